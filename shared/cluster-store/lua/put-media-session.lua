--[[
put-media-session: records (or replaces) the media session of one call until now + ttl (store
clock), in one atomic step. A session of the same call id on another relay is moved: it leaves
that relay's set here, so relay counts never see the call twice. Expired sessions are pruned
first (at most ARGV[7] of them).

KEYS[1] media:session:<callId>  the session hash (from, relay, node, start ms, exp ms), replaced
KEYS[2] media:by-start          zset callId -> start ms
KEYS[3] media:by-expiry         zset callId -> expiry ms
KEYS[4] media:relays            set of relay ids that have sessions
KEYS[5] relay:media:<relayId>   zset callId -> expiry ms, the new relay's sessions
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] call id
ARGV[3] from tag
ARGV[4] relay id
ARGV[5] node id
ARGV[6] ttl, ms (> 0, may have a fraction)
ARGV[7] prune budget (expired sessions dropped by this call at most)

Returns the session's start (store clock ms). An old relay's set is built here from the prefix
(one hash tag: same slot).
]]
local prefix, id, relay = ARGV[1], ARGV[2], ARGV[4]
local now_ms = now_us() / 1000
media_prune(prefix, now_ms, tonumber(ARGV[7]))

local old = redis.call('HGET', KEYS[1], 'relay')
if old and old ~= relay then media_unlink_relay(prefix, id, old) end

local start = math.floor(now_ms)
local exp = now_ms + tonumber(ARGV[6])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'from', ARGV[3], 'relay', relay, 'node', ARGV[5], 'start', int(start), 'exp', ms3(exp))
-- The hash outlives its expiry by a little: readers decide by `exp`, the key only cleans up.
redis.call('PEXPIREAT', KEYS[1], int(math.ceil(exp) + 1))
redis.call('ZADD', KEYS[2], int(start), id)
redis.call('ZADD', KEYS[3], ms3(exp), id)
redis.call('ZADD', KEYS[5], ms3(exp), id)
redis.call('SADD', KEYS[4], relay)
media_expire_with(KEYS[2], KEYS[3])
media_expire_with(KEYS[3], KEYS[3])
media_expire_with(KEYS[4], KEYS[3])
media_expire_with(KEYS[5], KEYS[5])
return start
