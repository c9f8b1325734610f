--[[
release-call: releases a call exactly once.
  - 'fenced'    the given epoch is not the node's current one (the node was reaped or
                re-registered; its calls were or will be released by the store): nothing changes;
  - 'not-found' no record, or the record is held by another node or epoch (released already,
                reaped for its age, or taken over): nothing changes;
  - 'released'  the record was this node's under this epoch: it is gone from every level.

KEYS[1] call:<callId>
KEYS[2] node:epoch:<nodeId>
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] callId
ARGV[3] nodeId
ARGV[4] epoch

Returns 'released' | 'not-found' | 'fenced' (common.lua's release_one after the epoch check).
Level keys of the record are built here from the prefix (one hash tag: same slot).
]]
local cur = redis.call('GET', KEYS[2])
if not cur or tonumber(cur) ~= tonumber(ARGV[4]) then return 'fenced' end
return release_one(ARGV[1], ARGV[2], ARGV[3], ARGV[4])
