--[[
remove-binding: removes one unexpired binding; with an owner given, only while that node owns it
(a keep-alive miss or a closed connection must not remove a binding that moved or re-registered
elsewhere). An expired binding counts as absent (and is deleted on the way).

KEYS[1] reg:aor:<aor>
ARGV[1] key prefix `sf:{<cluster>}:reg:`
ARGV[2] aor
ARGV[3] binding key
ARGV[4] owner nodeId, or '' for no condition

Returns 1 when removed, else 0.
]]
local prefix, aor, key, owner = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local h = live_binding(prefix, aor, key, now_ms())
if not h then return 0 end
if owner ~= '' and h[H_NODE] ~= owner then return 0 end
delete_binding(prefix, aor, key, h)
return 1
