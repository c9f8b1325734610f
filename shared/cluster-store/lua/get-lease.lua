--[[
get-lease: a named lease as it is now (read only): the live holder, the epoch, the live grant's
expiry and the live claim.

KEYS[1] lease:<name>

Returns {} when the lease was never granted nor claimed, else
{holder ('' when free), epoch, expiry ms (0 when free), claimant ('' when none), claim priority}.
]]
local now_ms = math.floor(now_us() / 1000)
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local h = redis.call('HMGET', KEYS[1], 'holder', 'epoch', 'exp', 'wholder', 'wprio', 'wexp')
local cur, exp = h[1] or '', tonumber(h[3] or '0')
if cur == '' or exp <= now_ms then cur, exp = '', 0 end
local wholder, wprio = h[4] or '', tonumber(h[5] or '0')
if wholder == '' or tonumber(h[6] or '0') <= now_ms then wholder, wprio = '', 0 end
return {cur, tonumber(h[2] or '0'), exp, wholder, wprio}
