--[[
resync-calls: after a store outage or failover, re-asserts calls a node still holds. A call whose
record exists (whoever holds it) is left as it is; a missing one is written back under the given
node and epoch with its levels, without checking caps or charging CPS (the call exists).

KEYS[1] node:epoch:<nodeId>         must equal ARGV[3], else nothing is written
KEYS[2] calls:by-start
KEYS[3] calls:by-expiry
KEYS[4] node:calls:<epoch>:<nodeId>
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] nodeId
ARGV[3] epoch
ARGV[4] number of calls m
ARGV[5 + 5(j-1) .. 9 + 5(j-1)] call j: callId, level ids as a JSON array, start ms, expiry ms,
        meta as a JSON object

Returns the number of calls written back, or -1 when the epoch is stale (fenced).
Call and level keys are built here from the prefix (one hash tag: same slot).
]]
local prefix, node, epoch = ARGV[1], ARGV[2], ARGV[3]
local cur = redis.call('GET', KEYS[1])
if not cur or tonumber(cur) ~= tonumber(epoch) then return -1 end
local added = 0
for j = 1, tonumber(ARGV[4]) do
  local a = 5 + 5 * (j - 1)
  local id, levels_json, start, expires = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local call_key = k_call(prefix, id)
  if redis.call('EXISTS', call_key) == 0 then
    for _, level in ipairs(cjson.decode(levels_json)) do
      redis.call('ZADD', k_level_calls(prefix, level), start, id)
    end
    redis.call('HSET', call_key, 'node', node, 'epoch', epoch, 'levels', levels_json,
      'start', start, 'exp', expires, 'meta', ARGV[a + 4])
    redis.call('SADD', KEYS[4], id)
    redis.call('ZADD', KEYS[2], start, id)
    redis.call('ZADD', KEYS[3], expires, id)
    added = added + 1
  end
end
return added
