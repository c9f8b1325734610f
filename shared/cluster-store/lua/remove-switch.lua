--[[
remove-switch: removes one switch from the registry and, when it was there, tells every node.
Calls in progress on the switch and its probe reports are left alone (the reports expire).

KEYS[1] switches              registry hash
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] switch id

Returns 1 when the switch was removed (a notice was published on `events`), 0 when absent.
]]
local removed = redis.call('HDEL', KEYS[1], ARGV[2])
if removed == 1 then publish_switches_changed(ARGV[1]) end
return removed
