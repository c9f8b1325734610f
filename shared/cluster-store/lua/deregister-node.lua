--[[
deregister-node: a node leaves cleanly. When the epoch is current: bumps it (so nothing that node
process still sends can act), drops its lease and info, queues its calls for release and releases
up to ARGV[4] of the queued calls at once (the caller drains the rest). A stale epoch changes
nothing (a newer registration owns the node id).

KEYS[1] node:epoch:<nodeId>
KEYS[2] nodes                 lease zset
KEYS[3] node:info:<nodeId>
KEYS[4] fenced                (declared; built from the prefix too)
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] nodeId
ARGV[3] epoch
ARGV[4] release budget (calls)

Returns {1 if deregistered else 0, calls released, 1 if fenced calls remain else 0}.
The node's call-set key is built here from the prefix (one hash tag: same slot).
]]
local prefix, node = ARGV[1], ARGV[2]
local cur = redis.call('GET', KEYS[1])
if not cur or tonumber(cur) ~= tonumber(ARGV[3]) then return {0, 0, 0} end
local now_ms = math.floor(now_us() / 1000)
bump_epoch(prefix, KEYS[1], node, now_ms)
redis.call('ZREM', KEYS[2], node)
redis.call('DEL', KEYS[3])
local released, more = drain_fenced(prefix, tonumber(ARGV[4]))
return {1, released, more}
