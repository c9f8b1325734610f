--[[
record-auth-failure: counts one failed authentication from an IP, cluster-wide.

The window is fixed, not sliding: the count key gets a PX of windowMs at the window's first
failure and is gone after it; the next failure starts a new window. When the count reaches the
threshold (and the IP is not banned yet), the IP is banned until now + banMs, its count is reset
and a notice goes to every node. While banned, failures are still counted (in a new window) but
nothing is re-announced and the ban is not extended.

KEYS[1] reg:fail:<ip>
KEYS[2] reg:banned
ARGV[1] key prefix `sf:{<cluster>}:reg:`
ARGV[2] ip
ARGV[3] windowMs (integer >= 1)
ARGV[4] threshold
ARGV[5] banMs (integer >= 1)

Returns {failures, banned (1 | 0)}.
]]
local prefix, ip = ARGV[1], ARGV[2]
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', int(now))
local failures = redis.call('INCR', KEYS[1])
if failures == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
if redis.call('ZSCORE', KEYS[2], ip) then return {failures, 1} end
if failures < tonumber(ARGV[4]) then return {failures, 0} end
local until_ms = now + tonumber(ARGV[5])
redis.call('ZADD', KEYS[2], int(until_ms), ip)
redis.call('DEL', KEYS[1])
publish_ban(prefix, ip, until_ms)
return {failures, 1}
