--[[
remove-relay: removes one media relay from the registry and, when it was there, tells every node.
The relay's media sessions are left alone: they end with their calls (or expire).

KEYS[1] relays                relay registry hash
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] relay id

Returns 1 when the relay was removed (a notice was published on `events`), 0 when absent.
]]
local removed = redis.call('HDEL', KEYS[1], ARGV[2])
if removed == 1 then publish_switches_changed(ARGV[1]) end
return removed
