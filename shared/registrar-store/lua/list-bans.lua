--[[
list-bans: the bans in force.

KEYS[1] reg:banned

Returns a flat list ip, untilMs, ip, untilMs... (unordered as far as the caller cares).
]]
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. int(now_ms()), '+inf', 'WITHSCORES')
