--[[
remove-dialog: forgets one Call-ID's dialog record. A fencing of its call's node after this
releases the call (the `dlg` field of the call record no longer names a live dialog).

KEYS[1] dialog:<callId>

Returns 1 when a record was removed, else 0.
]]
return redis.call('DEL', KEYS[1])
