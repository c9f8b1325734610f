--[[
release-calls: release-call for a batch of one node's calls under one epoch, in order: one
EVALSHA for the releases of one event-loop turn (turn-batcher.ts).

KEYS[1] node:epoch:<nodeId>         must equal ARGV[3], else every call is 'fenced'
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] nodeId
ARGV[3] epoch
ARGV[4 ..] callIds

Returns one reply per call, in order: 'released' | 'not-found' | 'fenced' (as release-call's).
Every other key is built from the prefix (one hash tag: same slot).
]]
local prefix, node, epoch = ARGV[1], ARGV[2], ARGV[3]
local out = {}
local cur = redis.call('GET', KEYS[1])
local fenced = not cur or tonumber(cur) ~= tonumber(epoch)
for j = 4, #ARGV do
  if fenced then out[j - 3] = 'fenced' else out[j - 3] = release_one(prefix, ARGV[j], node, epoch) end
end
return out
