--[[
register-node: a node joins the cluster. Gives it a new epoch (fencing every earlier one: a
restarted node's old calls are gone with its old process), queues the old epoch's calls for
release and releases up to ARGV[4] of the queued calls at once (reap/drain-fenced do the rest),
stores its info and starts its lease.

KEYS[1] node:epoch:<nodeId>   the node's epoch counter
KEYS[2] nodes                 lease zset (nodeId -> expiry ms)
KEYS[3] node:info:<nodeId>    info hash, replaced
KEYS[4] fenced                queue of fenced call sets (declared; built from the prefix too)
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] nodeId
ARGV[3] lease ttl, ms
ARGV[4] release budget (calls)
ARGV[5..] info as field, value, field, value...

Returns {epoch, lease expiry ms, calls released, 1 if fenced calls remain else 0}.
Keys of older epochs' call sets are built here from the prefix (one hash tag: same slot).
]]
local prefix, node = ARGV[1], ARGV[2]
local now_ms = math.floor(now_us() / 1000)
local epoch = bump_epoch(prefix, KEYS[1], node, now_ms)
local released, more = drain_fenced(prefix, tonumber(ARGV[4]))
redis.call('DEL', KEYS[3])
if #ARGV > 4 then redis.call('HSET', KEYS[3], unpack(ARGV, 5)) end
local expires = now_ms + tonumber(ARGV[3])
redis.call('ZADD', KEYS[2], int(expires), node)
return {epoch, expires, released, more}
