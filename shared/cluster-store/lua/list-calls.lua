--[[
list-calls: the calls of one level (or every call), oldest start first, at most ARGV[2]. Read only.

KEYS[1] level:calls:<level> or calls:by-start
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] limit (>= 1)

Returns {callId, node, epoch, levels JSON, start ms, expiry ms, meta JSON, ...} (7 per call).
Call keys are built here from the prefix (one hash tag: same slot).
]]
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
local reply = {}
for _, id in ipairs(ids) do
  local rec = redis.call('HMGET', k_call(ARGV[1], id), 'node', 'epoch', 'levels', 'start', 'exp', 'meta')
  if rec[1] then
    reply[#reply + 1] = id
    for f = 1, 6 do reply[#reply + 1] = rec[f] or '' end
  end
end
return reply
