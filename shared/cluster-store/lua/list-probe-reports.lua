--[[
list-probe-reports: the live probe reports of every node, for one switch or all. Prunes the
index entries whose report expired (the only write).

KEYS[1] probes                index zset (`<switchId>:<nodeId>` -> expiry ms)
ARGV[1] key prefix `sf:{<cluster>}:`
ARGV[2] switch id, or '' for every switch

Returns {switchId, nodeId, up, latency ms or '', p99 ms or '', at ms, ...} (6 per report).
Report keys are built here from the prefix (one hash tag: same slot).
]]
local prefix, only = ARGV[1], ARGV[2]
local now_ms = math.floor(now_us() / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', int(now_ms))
local reply = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  -- Switch ids hold no ':', so the first ':' ends it; the node id (which may hold ':') follows.
  local sep = string.find(member, ':', 1, true)
  if sep then
    local switch_id, node = string.sub(member, 1, sep - 1), string.sub(member, sep + 1)
    if only == '' or only == switch_id then
      local rec = redis.call('HMGET', k_probe(prefix, switch_id, node), 'up', 'lat', 'p99', 'at')
      if rec[1] then
        reply[#reply + 1] = switch_id
        reply[#reply + 1] = node
        reply[#reply + 1] = rec[1]
        reply[#reply + 1] = rec[2] or ''
        reply[#reply + 1] = rec[3] or ''
        reply[#reply + 1] = rec[4] or '0'
      end
    end
  end
end
return reply
