--[[
seed-relays: adds the media relays the registry does not hold yet (HSETNX each: a record already
there, maybe changed live through the ops API, is never overwritten), and tells every node when
at least one was added. Every node seeds its cluster from its config at start; the first wins.

KEYS[1] relays                relay registry hash
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2 + 2(i-1)] relay i id
ARGV[3 + 2(i-1)] relay i record, canonical JSON

Returns how many relays were added.
]]
local added = 0
for i = 2, #ARGV, 2 do
  added = added + redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
end
if added > 0 then publish_switches_changed(ARGV[1]) end
return added
