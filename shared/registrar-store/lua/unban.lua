--[[
unban: lifts a ban and resets the IP's failure count; when a ban was in force, every node hears
`{ip, untilMs: 0}`.

KEYS[1] reg:fail:<ip>
KEYS[2] reg:banned
ARGV[1] key prefix `sf:{<cluster>}:reg:`
ARGV[2] ip

Returns 1 when a ban was lifted, else 0.
]]
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', int(now))
local was = redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1])
if was == 1 then publish_ban(ARGV[1], ARGV[2], 0) end
return was
