--[[
admit-calls: admit-call for a batch of one node's calls, in order, at one store time: each call
is checked and taken on its own (common.lua's admit_one), exactly as if admit-call had run for
each in turn, in one script call. The node batches the admissions of one event-loop turn
(turn-batcher.ts): one EVALSHA and one reply instead of one per call. The calls are timed 1 µs
apart (the j-th at the store time + j - 1 µs), so that two attempts of one call in a batch are two
admissions in the CPS window, as two admit-call runs would be.

KEYS[1] node:epoch:<nodeId>         must equal ARGV[3], else every call is 'fenced'
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] nodeId
ARGV[3] epoch
ARGV[4] admission log bound per level
ARGV[5] number of calls m
then, per call: callId, maximum age ms, level ids as a JSON array, meta as a JSON object,
        number of levels n, and per level: id, channel cap (-1 none), CPS window cap (-1 none),
        1 if this attempt charges CPS at the level else 0

Returns one reply per call, in order, each as admit-call's: {1, start ms} |
{0, 'channels' | 'cps', level, retry after ms} | {0, 'fenced'}.
Every other key is built from the prefix (one hash tag: same slot), as admit-call's are.
]]
local prefix, node, epoch = ARGV[1], ARGV[2], ARGV[3]
local m = tonumber(ARGV[5])
local out = {}
local cur = redis.call('GET', KEYS[1])
if not cur or tonumber(cur) ~= tonumber(epoch) then
  for j = 1, m do out[j] = {0, 'fenced'} end
  return out
end

local now = now_us()
local log_max = tonumber(ARGV[4])
local a = 6
for j = 1, m do
  local id, max_age, levels_json, meta, n = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4])
  a = a + 5
  local lv = {}
  for i = 1, n do
    lv[i] = {ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), ARGV[a + 3]}
    a = a + 4
  end
  out[j] = admit_one(prefix, id, node, epoch, now + j - 1, max_age, levels_json, meta, log_max, lv)
end
return out
