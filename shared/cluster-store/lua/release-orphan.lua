--[[
release-orphan: releases an orphaned call (its node was fenced while it had a dialog record)
exactly once: 'released' when the record is held by node '-' epoch 0, else 'not-found' (no
record, released already, expired, or held by a node).

KEYS[1] call:<callKey>
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] admission key

Level keys of the record are built here from the prefix (one hash tag: same slot).
]]
local rec = redis.call('HMGET', KEYS[1], 'node', 'epoch', 'levels')
if rec[1] ~= '-' or rec[2] ~= '0' then return 'not-found' end
release_record(ARGV[1], ARGV[2], rec[1], rec[2], rec[3])
return 'released'
