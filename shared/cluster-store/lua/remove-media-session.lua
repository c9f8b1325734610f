--[[
remove-media-session: forgets one call's media session, atomically: the hash, its start and
expiry index entries and its relay's set entry (and the relay in `media:relays` once it has no
session left). Also prunes expired sessions (at most ARGV[3]).

KEYS[1] media:session:<callId>  the session hash
KEYS[2] media:by-start          zset callId -> start ms
KEYS[3] media:by-expiry         zset callId -> expiry ms
KEYS[4] media:relays            set of relay ids that have sessions
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] call id
ARGV[3] prune budget

Returns 1 when a live session was removed, 0 when there was none (or it had expired).
The relay's set is built here from the prefix (one hash tag: same slot).
]]
local prefix, id = ARGV[1], ARGV[2]
local now_ms = now_us() / 1000
local rec = redis.call('HMGET', KEYS[1], 'relay', 'exp')
local live = rec[2] and tonumber(rec[2]) >= now_ms
media_drop(prefix, id, rec[1])
media_prune(prefix, now_ms, tonumber(ARGV[3]))
if live then return 1 end
return 0
