--[[
renew-lease: extends a named lease's live grant to now + ttl, only for its holder and epoch (an
expired grant is not renewed, even when nobody took it: the holder acquires again for a new epoch).

KEYS[1] lease:<name>
ARGV[1] holder
ARGV[2] epoch
ARGV[3] ttl, ms (integer >= 1)

Returns {0} when not renewed, else {1, expiry ms, claimant ('' when none), claim priority}: the
live claim of another holder, which the holder may yield to.
]]
local now_ms = math.floor(now_us() / 1000)
local h = redis.call('HMGET', KEYS[1], 'holder', 'epoch', 'exp', 'wholder', 'wprio', 'wexp')
if h[1] ~= ARGV[1] or tonumber(h[2] or '0') ~= tonumber(ARGV[2]) or tonumber(h[3] or '0') <= now_ms then
  return {0}
end
local exp = now_ms + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'exp', int(exp))
local wholder, wexp = h[4] or '', tonumber(h[6] or '0')
if wholder ~= '' and wholder ~= ARGV[1] and wexp > now_ms then
  return {1, exp, wholder, tonumber(h[5] or '0')}
end
return {1, exp, '', 0}
