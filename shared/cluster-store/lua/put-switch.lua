--[[
put-switch: adds or replaces one switch of the registry, and tells every node when that changed
anything (a rewrite of the same record publishes nothing). The adapter has validated the record
and sends its canonical JSON, so equal records compare equal here.

KEYS[1] switches              registry hash (switchId -> record JSON)
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] switch id
ARGV[3] the record, canonical JSON

Returns 1 when the registry changed (a notice was published on `events`), else 0.
]]
if redis.call('HGET', KEYS[1], ARGV[2]) == ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
publish_switches_changed(ARGV[1])
return 1
