--[[
put-cluster-limits: sets the cluster's caps (the `cluster` level of admission) and tells every
node when that changed them (the same notice as a registry change). `seed` only sets them when
none are stored (a node's config seeds its cluster; the ops API changes them afterwards).

KEYS[1] cluster-limits        the caps, canonical JSON
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] the caps, canonical JSON
ARGV[3] '1' to seed (set only when absent), '0' to replace

Returns 1 when the caps changed (a notice was published on `events`), else 0.
]]
local cur = redis.call('GET', KEYS[1])
if ARGV[3] == '1' and cur then return 0 end
if cur == ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
publish_switches_changed(ARGV[1])
return 1
