--[[
sweep-expired: deletes expired bindings, oldest first, at most `budget` per call. Safe on every
node at once: each binding is deleted (and counted) by exactly one call.

KEYS[1] reg:expiry
ARGV[1] key prefix `sf:{<cluster>}:reg:`
ARGV[2] budget

Returns {deleted, more (1 | 0)}.
]]
local prefix, budget = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local refs = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', int(now), 'LIMIT', 0, budget)
local deleted = 0
for _, r in ipairs(refs) do
  local aor, key = split_ref(r)
  local v = redis.call('HGET', k_aor(prefix, aor), key)
  if v then
    local h = split_value(v)
    if is_live(h, now) then
      -- A stale index score (never expected): repair it rather than delete a live binding.
      redis.call('ZADD', KEYS[1], h[H_EXP], r)
    else
      delete_binding(prefix, aor, key, h)
      deleted = deleted + 1
    end
  else
    redis.call('ZREM', KEYS[1], r)
  end
end
return {deleted, #refs == budget and 1 or 0}
