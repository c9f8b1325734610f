--[[
owned-by: one page of the unexpired bindings a node owns (its keep-alive work list, or a dead
node's hand-over), in index order (expiry, then `<aor>:<key>`).

KEYS[1] reg:owner:<nodeId>
ARGV[1] key prefix `sf:{<cluster>}:reg:`
ARGV[2] nodeId
ARGV[3] offset into the unexpired part of the index
ARGV[4] page size

Returns {more (1 | 0), value...}: the stored values found (an index entry whose binding is gone or
owned by another node is skipped).
]]
local prefix, node, offset, count = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_ms()
local refs = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. int(now), '+inf', 'LIMIT', offset, count)
local out = { #refs == count and 1 or 0 }
for _, r in ipairs(refs) do
  local aor, key = split_ref(r)
  local v = redis.call('HGET', k_aor(prefix, aor), key)
  if v then
    local h = split_value(v)
    if h[H_NODE] == node and is_live(h, now) then out[#out + 1] = v end
  end
end
return out
