--[[
heartbeat-node: renews a node's lease. Only while the given epoch is the node's current one and
the node still holds a lease (a reaped or re-registered node is fenced: it must register again).
A lease that expired but was not reaped yet is renewed: nothing of the node was released.

KEYS[1] node:epoch:<nodeId>
KEYS[2] nodes                 lease zset
ARGV[1] nodeId
ARGV[2] epoch
ARGV[3] lease ttl, ms

Returns 'ok' or 'fenced'.
]]
local cur = redis.call('GET', KEYS[1])
if not cur or tonumber(cur) ~= tonumber(ARGV[2]) then return 'fenced' end
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 'fenced' end
local now_ms = math.floor(now_us() / 1000)
redis.call('ZADD', KEYS[2], int(now_ms + tonumber(ARGV[3])), ARGV[1])
return 'ok'
