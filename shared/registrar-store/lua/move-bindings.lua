--[[
move-bindings: hands a dead owner's bindings over. Each move happens only if `from` still owns the
unexpired binding: the header's owner and ownerUri are rewritten (everything else kept, the
measured RTT included) and the binding changes owner index. Each drop deletes the binding under
the same condition.

KEYS[1] reg:expiry (declared for the slot; owner and AOR keys are built from the prefix)
ARGV[1] key prefix `sf:{<cluster>}:reg:`
ARGV[2] from nodeId
ARGV[3] number of moves M, then per move 4 values: aor, key, new nodeId, new ownerUri
then    number of drops D, then per drop 2 values: aor, key

Returns {moved, dropped}.
]]
local prefix, from = ARGV[1], ARGV[2]
local now = now_ms()
local moved, dropped = 0, 0
local n_moves = tonumber(ARGV[3])
for i = 0, n_moves - 1 do
  local j = 4 + i * 4
  local aor, key, node, uri = ARGV[j], ARGV[j + 1], ARGV[j + 2], ARGV[j + 3]
  local h, body = live_binding(prefix, aor, key, now)
  if h and h[H_NODE] == from then
    local r = ref(aor, key)
    redis.call('ZREM', k_owner(prefix, from), r)
    h[H_NODE] = node
    h[H_URI] = uri
    redis.call('HSET', k_aor(prefix, aor), key, join_value(h, body))
    redis.call('ZADD', k_owner(prefix, node), h[H_EXP], r)
    moved = moved + 1
  end
end
local at = 4 + n_moves * 4
local n_drops = tonumber(ARGV[at])
for i = 0, n_drops - 1 do
  local aor, key = ARGV[at + 1 + i * 2], ARGV[at + 2 + i * 2]
  local h = live_binding(prefix, aor, key, now)
  if h and h[H_NODE] == from then
    delete_binding(prefix, aor, key, h)
    dropped = dropped + 1
  end
end
return {moved, dropped}
