--[[
release-lease: gives a named lease's grant up (the lease is free at once), only for its holder
and epoch. The epoch and any claim stay.

KEYS[1] lease:<name>
ARGV[1] holder
ARGV[2] epoch

Returns 1 when released, else 0.
]]
local h = redis.call('HMGET', KEYS[1], 'holder', 'epoch')
if h[1] ~= ARGV[1] or tonumber(h[2] or '0') ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'holder', '', 'exp', '0')
return 1
