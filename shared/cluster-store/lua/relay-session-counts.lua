--[[
relay-session-counts: how many live media sessions each relay has (store clock). Prunes every
relay set of its expired members (ZREMRANGEBYSCORE) and drops relays with none left from
`media:relays`, so each count is exact: ZCARD of the unexpired members.

KEYS[1] media:relays            set of relay ids that have sessions
ARGV[1] key prefix `sf:{<cluster>}:`

Returns {relayId, count, ...} for the relays with at least one live session (unordered).
Relay sets are built here from the prefix (one hash tag: same slot).
]]
local prefix = ARGV[1]
local now_ms = now_us() / 1000
local reply = {}
for _, relay in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local set = k_relay_media(prefix, relay)
  redis.call('ZREMRANGEBYSCORE', set, '-inf', '(' .. ms3(now_ms))
  local n = redis.call('ZCARD', set)
  if n == 0 then
    redis.call('SREM', KEYS[1], relay)
  else
    reply[#reply + 1] = relay
    reply[#reply + 1] = n
  end
end
return reply
