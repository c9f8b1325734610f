--[[
get-dialog: one Call-ID's dialog record (it expires with its key). Read only.

KEYS[1] dialog:<callId>

Returns the record's JSON, or false when there is none.
]]
return redis.call('HGET', KEYS[1], 'json')
