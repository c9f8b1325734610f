--[[
admit-call: checks every level of a call and, only when all allow it, takes them all (one atomic
step). Per level, in request order: the channel cap (ZCARD of the level's call zset >= cap ->
refused 'channels'), then, when the attempt charges CPS, the exact sliding window of
cps-window.ts on the store clock in µs (admissions in (now - 1 s, now] >= cps + burst ->
refused 'cps', retry when the oldest of them leaves the window). A refusal takes nothing at any
level.

An existing record for the call id is released first, within this step: a re-attempt of the
same call (failover, same node and epoch) moves the call to its new levels; a record held by any
other node or epoch is taken over. If the new attempt is refused the call stays released.

KEYS[1] call:<callId>               the call record (hash)
KEYS[2] node:epoch:<nodeId>         must equal ARGV[4], else 'fenced'
KEYS[3] calls:by-start
KEYS[4] calls:by-expiry
KEYS[5] node:calls:<epoch>:<nodeId> the node's call set for this epoch
KEYS[6 + 2(i-1)] level:calls:<level i>    callId -> start ms; ZCARD = channels
KEYS[7 + 2(i-1)] level:admits:<level i>   admissions of the last 1 s (µs), the CPS window
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] callId
ARGV[3] nodeId
ARGV[4] epoch
ARGV[5] maximum age, ms
ARGV[6] level ids as a JSON array (kept in the record)
ARGV[7] meta as a JSON object (kept in the record)
ARGV[8] admission log bound per level
ARGV[9] number of levels n
ARGV[10 + 4(i-1) .. 13 + 4(i-1)] level i: id, channel cap (-1 none), CPS window cap = cps + burst
        (-1 no CPS cap), 1 if this attempt charges CPS at the level else 0

Returns {1, start ms} | {0, 'channels' | 'cps', level, retry after ms} | {0, 'fenced'}.
The old record's level keys are built here from the prefix (one hash tag: same slot).
]]
local prefix, id = ARGV[1], ARGV[2]
local now = now_us()
local now_ms = math.floor(now / 1000)

local cur = redis.call('GET', KEYS[2])
if not cur or tonumber(cur) ~= tonumber(ARGV[4]) then return {0, 'fenced'} end

local old = redis.call('HMGET', KEYS[1], 'node', 'epoch', 'levels')
if old[1] then release_record(prefix, id, old[1], old[2], old[3]) end

local n = tonumber(ARGV[9])
for i = 1, n do
  local a, k = 10 + 4 * (i - 1), 6 + 2 * (i - 1)
  local cap, window_cap = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  if cap >= 0 and redis.call('ZCARD', KEYS[k]) >= cap then
    return {0, 'channels', ARGV[a], 0}
  end
  if ARGV[a + 3] == '1' and window_cap >= 0 then
    local since = '(' .. int(now - 1000000)
    if redis.call('ZCOUNT', KEYS[k + 1], since, '+inf') >= window_cap then
      local oldest = redis.call('ZRANGEBYSCORE', KEYS[k + 1], since, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
      local wait = 1
      if oldest[2] then wait = math.ceil((tonumber(oldest[2]) + 1000000 - now) / 1000) end
      if wait < 1 then wait = 1 end
      return {0, 'cps', ARGV[a], wait}
    end
  end
end

local log_max = tonumber(ARGV[8])
for i = 1, n do
  local a, k = 10 + 4 * (i - 1), 6 + 2 * (i - 1)
  if ARGV[a + 3] == '1' then
    local log = KEYS[k + 1]
    redis.call('ZADD', log, int(now), int(now) .. ':' .. id)
    redis.call('ZREMRANGEBYSCORE', log, '-inf', int(now - 1000000))
    local size = redis.call('ZCARD', log)
    if size > log_max then redis.call('ZREMRANGEBYRANK', log, 0, size - log_max - 1) end
    redis.call('PEXPIRE', log, 1001)
  end
  redis.call('ZADD', KEYS[k], int(now_ms), id)
end

local expires = now_ms + tonumber(ARGV[5])
redis.call('HSET', KEYS[1], 'node', ARGV[3], 'epoch', ARGV[4], 'levels', ARGV[6],
  'start', int(now_ms), 'exp', int(expires), 'meta', ARGV[7])
redis.call('SADD', KEYS[5], id)
redis.call('ZADD', KEYS[3], int(now_ms), id)
redis.call('ZADD', KEYS[4], int(expires), id)
return {1, now_ms}
