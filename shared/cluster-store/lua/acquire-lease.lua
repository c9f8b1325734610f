--[[
acquire-lease: takes a named lease (one holder at a time; e.g. a floating IP, docs/ha.md).
Granted, with a new epoch, when the lease is free (never granted, released, or expired) or
already the caller's, unless it is free and another holder's live claim has a higher priority
(it is then reserved for that claim). While another holder's grant is live, the caller's claim
is recorded (until now + ttl) when there is no live claim, the live claim is the caller's, or
the caller's priority is higher. A grant clears the caller's own claim (or an expired one).
The hash is never deleted: its epoch only grows.

KEYS[1] lease:<name>   hash: holder ('' when free), epoch, exp (ms), wholder, wprio, wexp (ms)
ARGV[1] holder
ARGV[2] ttl, ms (integer >= 1)
ARGV[3] priority (integer)

Returns {1, epoch, expiry ms, lapsed holder ('' when none), ms since the lapsed grant expired (-1 when none)}
when granted, else {0, live holder ('' when reserved), epoch, ms left of the live grant, reserved-for holder ('' when held)}.
]]
local now_ms = math.floor(now_us() / 1000)
local holder, ttl, prio = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local h = redis.call('HMGET', KEYS[1], 'holder', 'epoch', 'exp', 'wholder', 'wprio', 'wexp')
local cur, epoch, exp = h[1] or '', tonumber(h[2] or '0'), tonumber(h[3] or '0')
local wholder, wprio, wexp = h[4] or '', tonumber(h[5] or '0'), tonumber(h[6] or '0')
local live = cur ~= '' and exp > now_ms
local claim = wholder ~= '' and wexp > now_ms
if live and cur ~= holder then
  if (not claim) or wholder == holder or prio > wprio then
    redis.call('HSET', KEYS[1], 'wholder', holder, 'wprio', int(prio), 'wexp', int(now_ms + ttl))
  end
  return {0, cur, epoch, exp - now_ms, ''}
end
if claim and wholder ~= holder and wprio > prio then
  return {0, '', epoch, 0, wholder}
end
local lapsed_holder, lapsed_ago = '', -1
if cur ~= '' and not live then
  lapsed_holder, lapsed_ago = cur, now_ms - exp
end
epoch = epoch + 1
redis.call('HSET', KEYS[1], 'holder', holder, 'epoch', int(epoch), 'exp', int(now_ms + ttl))
if (not claim) or wholder == holder then redis.call('HDEL', KEYS[1], 'wholder', 'wprio', 'wexp') end
return {1, epoch, now_ms + ttl, lapsed_holder, lapsed_ago}
