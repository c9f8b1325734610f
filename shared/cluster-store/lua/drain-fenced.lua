--[[
drain-fenced: releases calls still held under fenced epochs (left over when a registration,
deregistration or reap had more calls to release than one script may touch).

KEYS[1] fenced                queue of fenced call sets (declared; built from the prefix too)
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] release budget (calls)

Returns {calls released, 1 if fenced calls remain else 0}.
Call and call-set keys are built here from the prefix (one hash tag: same slot).
]]
local released, more = drain_fenced(ARGV[1], tonumber(ARGV[2]))
return {released, more}
