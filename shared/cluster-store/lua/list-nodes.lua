--[[
list-nodes: nodes whose lease has not expired on the store clock, with their epoch and the info
they registered with. Read only.

KEYS[1] nodes                 lease zset
ARGV[1] key prefix `sf:{<cluster>}:`

Returns {nodeId, epoch, lease expiry ms, info (flat HGETALL array), ...} (4 per node).
Epoch and info keys are built here from the prefix (one hash tag: same slot).
]]
local now_ms = math.floor(now_us() / 1000)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], int(now_ms), '+inf', 'WITHSCORES')
local reply = {}
for i = 1, #live, 2 do
  reply[#reply + 1] = live[i]
  reply[#reply + 1] = redis.call('GET', k_node_epoch(ARGV[1], live[i])) or '0'
  reply[#reply + 1] = live[i + 1]
  reply[#reply + 1] = redis.call('HGETALL', k_node_info(ARGV[1], live[i]))
end
return reply
