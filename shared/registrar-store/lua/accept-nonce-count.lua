--[[
accept-nonce-count: nonce-count replay protection (RFC 7616 §3.3). Accepts `nc` only when it is
higher than every count accepted for this nonce while its record lives, then records it for ttlMs.

KEYS[1] reg:nonce:<nonce>
ARGV[1] nc (integer >= 1)
ARGV[2] ttl ms (integer >= 1)

Returns 1 when accepted, 0 for a replayed or reordered count.
]]
local seen = redis.call('GET', KEYS[1])
if seen and tonumber(ARGV[1]) <= tonumber(seen) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
