--[[
admit-call: checks every level of one call and, only when all allow it, takes them all (one
atomic step): common.lua's admit_one, after the node's epoch is checked. admit-calls.lua does the
same for a batch of calls.

KEYS[1] call:<callId>               the call record (hash)
KEYS[2] node:epoch:<nodeId>         must equal ARGV[4], else 'fenced'
KEYS[3] calls:by-start
KEYS[4] calls:by-expiry
KEYS[5] node:calls:<epoch>:<nodeId> the node's call set for this epoch
KEYS[6 + 2(i-1)] level:calls:<level i>    callId -> start ms; ZCARD = channels
KEYS[7 + 2(i-1)] level:admits:<level i>   admissions of the last 1 s (µs), the CPS window
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] callId
ARGV[3] nodeId
ARGV[4] epoch
ARGV[5] maximum age, ms
ARGV[6] level ids as a JSON array (kept in the record)
ARGV[7] meta as a JSON object (kept in the record)
ARGV[8] admission log bound per level
ARGV[9] number of levels n
ARGV[10 + 4(i-1) .. 13 + 4(i-1)] level i: id, channel cap (-1 none), CPS window cap = cps + burst
        (-1 no CPS cap), 1 if this attempt charges CPS at the level else 0

Returns {1, start ms} | {0, 'channels' | 'cps', level, retry after ms} | {0, 'fenced'}.
The declared keys are the ones admit_one builds from the prefix (one hash tag: same slot).
]]
local cur = redis.call('GET', KEYS[2])
if not cur or tonumber(cur) ~= tonumber(ARGV[4]) then return {0, 'fenced'} end

local lv = {}
for i = 1, tonumber(ARGV[9]) do
  local a = 10 + 4 * (i - 1)
  lv[i] = {ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), ARGV[a + 3]}
end
return admit_one(ARGV[1], ARGV[2], ARGV[3], ARGV[4], now_us(), tonumber(ARGV[5]), ARGV[6], ARGV[7], tonumber(ARGV[8]), lv)
