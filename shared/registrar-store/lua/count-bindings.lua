--[[
count-bindings: the number of unexpired bindings in an index (all of them, or one owner's).

KEYS[1] reg:expiry, or reg:owner:<nodeId>

Returns the count.
]]
return redis.call('ZCOUNT', KEYS[1], '(' .. int(now_ms()), '+inf')
