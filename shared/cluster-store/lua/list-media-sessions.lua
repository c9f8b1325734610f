--[[
list-media-sessions: the live media sessions, oldest start first (ties by call id), at most
ARGV[2]. Prunes expired sessions first (at most ARGV[3]), then drops any expired one it meets.

KEYS[1] media:by-start          zset callId -> start ms
KEYS[2] media:by-expiry         zset callId -> expiry ms
KEYS[3] media:relays            set of relay ids that have sessions
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] limit (>= 1)
ARGV[3] prune budget

Returns {callId, from tag, relay id, node id, start ms, ...} (5 per session).
Session hashes and relay sets are built here from the prefix (one hash tag: same slot).
]]
local prefix, limit, budget = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now_ms = now_us() / 1000
media_prune(prefix, now_ms, budget)
local reply, found, rank, scanned = {}, 0, 0, 0
while found < limit and scanned < limit + budget do
  local ids = redis.call('ZRANGE', KEYS[1], rank, rank + (limit - found) - 1)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    scanned = scanned + 1
    local rec = redis.call('HMGET', k_media_session(prefix, id), 'from', 'relay', 'node', 'start', 'exp')
    if rec[5] and tonumber(rec[5]) >= now_ms then
      reply[#reply + 1] = id
      reply[#reply + 1] = rec[1] or ''
      reply[#reply + 1] = rec[2] or ''
      reply[#reply + 1] = rec[3] or ''
      reply[#reply + 1] = rec[4] or '0'
      found = found + 1
      rank = rank + 1
    else
      -- Gone or expired: dropping it shifts the later ranks down, so `rank` stays.
      media_drop(prefix, id, rec[2])
    end
  end
end
return reply
