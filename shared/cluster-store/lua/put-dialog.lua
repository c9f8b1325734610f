--[[
put-dialog: records (or replaces) a confirmed call's dialog until now + ttl, and marks the call's
record (its admission key) with the dialog's Call-ID, so that a fencing of its node orphans the
call instead of releasing it (common.lua, drain_fenced). One atomic step.

KEYS[1] dialog:<callId>   hash: key (the admission key), json (the DialogStateRecord); PEXPIRE ttl
KEYS[2] call:<callKey>    the call record (hash), given the field `dlg` when it exists
ARGV[1] admission key
ARGV[2] the record as JSON
ARGV[3] ttl, ms (integer >= 1)
ARGV[4] Call-ID

Returns 1 when the call record exists (and was marked), else 0.
]]
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'key', ARGV[1], 'json', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'dlg', ARGV[4])
  return 1
end
return 0
