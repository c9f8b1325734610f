--[[
list-nodes: nodes whose lease has not expired on the store clock, with their epoch. Read only.

KEYS[1] nodes                 lease zset
ARGV[1] key prefix `sf:{<cluster>}:`

Returns {nodeId, epoch, lease expiry ms, ...} (3 per node).
Epoch keys are built here from the prefix (one hash tag: same slot).
]]
local now_ms = math.floor(now_us() / 1000)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], int(now_ms), '+inf', 'WITHSCORES')
local reply = {}
for i = 1, #live, 2 do
  reply[#reply + 1] = live[i]
  reply[#reply + 1] = redis.call('GET', k_node_epoch(ARGV[1], live[i])) or '0'
  reply[#reply + 1] = live[i + 1]
end
return reply
