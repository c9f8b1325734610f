--[[
get-media-session: one call's media session, when it has not expired (store clock). Read only.

KEYS[1] media:session:<callId>  the session hash

Returns {from tag, relay id, node id, start ms}, or an empty array when there is no live session.
]]
local rec = redis.call('HMGET', KEYS[1], 'from', 'relay', 'node', 'start', 'exp')
if not rec[5] or tonumber(rec[5]) < now_us() / 1000 then return {} end
return {rec[1] or '', rec[2] or '', rec[3] or '', rec[4] or '0'}
