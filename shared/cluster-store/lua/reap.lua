--[[
reap: the cluster's janitor, safe to run on every node at once (each run is atomic, and a call is
released only while its record exists). Bounded: touches at most ARGV[2] nodes and calls per run;
the caller repeats while the reply says more remains.
  (a) nodes whose lease expired (expiry < now): new epoch (fencing), lease and info dropped, their
      calls queued for release;
  (b) calls of fenced epochs: released (drain of the queue);
  (c) calls past their maximum age (expiry < now): released, whoever holds them.

KEYS[1] nodes                 lease zset
KEYS[2] fenced                queue of fenced call sets
KEYS[3] calls:by-expiry
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] budget (nodes + calls)

Returns {calls released, 1 if more work remains else 0, reaped nodeId...}.
Per-node and per-call keys are built here from the prefix (one hash tag: same slot).
]]
local prefix, budget = ARGV[1], tonumber(ARGV[2])
local now_ms = math.floor(now_us() / 1000)
local reaped, more = {}, 0

local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. int(now_ms), 'LIMIT', 0, budget)
for _, node in ipairs(expired) do
  bump_epoch(prefix, k_node_epoch(prefix, node), node, now_ms)
  redis.call('ZREM', KEYS[1], node)
  redis.call('DEL', k_node_info(prefix, node))
  reaped[#reaped + 1] = node
end
if #expired >= budget then more = 1 end
local left = budget - #expired

local released = 0
if left > 0 then
  local n, rest = drain_fenced(prefix, left)
  released = n
  if rest == 1 then more = 1 end
  left = left - n
end

if left > 0 then
  local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. int(now_ms), 'LIMIT', 0, left)
  for _, id in ipairs(old) do
    local rec = redis.call('HMGET', k_call(prefix, id), 'node', 'epoch', 'levels')
    release_record(prefix, id, rec[1], rec[2], rec[3])
    released = released + 1
  end
  if #old >= left then more = 1 end
else
  more = 1
end

local reply = {released, more}
for _, node in ipairs(reaped) do reply[#reply + 1] = node end
return reply
