--[[
put-relay: adds or replaces one media relay of the registry, and tells every node when that
changed anything (a rewrite of the same record publishes nothing). The notice is the registry's
(`switches` on `events`): a relay change is a registry change. The adapter has validated the
record and sends its canonical JSON, so equal records compare equal here.

KEYS[1] relays                relay registry hash (relayId -> record JSON)
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] relay id
ARGV[3] the record, canonical JSON

Returns 1 when the registry changed (a notice was published on `events`), else 0.
]]
if redis.call('HGET', KEYS[1], ARGV[2]) == ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
publish_switches_changed(ARGV[1])
return 1
