--[[
put-probe-report: stores one node's view of one switch until now + ttl (store clock). The report
is a hash that expires by itself; the `probes` index (member `<switchId>:<nodeId>`, score = the
report's expiry) lets readers find the live reports without SCAN. Expired index entries are
pruned here and on every read, and the index itself expires with its longest-lived report, so a
cluster whose nodes all stopped probing keeps nothing.

KEYS[1] probes                     index zset (`<switchId>:<nodeId>` -> expiry ms)
KEYS[2] probe:<switchId>:<nodeId>  the report hash, replaced
ARGV[1] `<switchId>:<nodeId>`      index member
ARGV[2] ttl, ms (integer >= 1)
ARGV[3] up: '1' or '0'
ARGV[4] latency EWMA, ms ('' when unknown)
ARGV[5] p99, ms ('' when unknown)

Returns the write time in ms (store clock): the report's `atMs`.
]]
local now_ms = math.floor(now_us() / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', int(now_ms))
redis.call('DEL', KEYS[2])
local fields = {'up', ARGV[3], 'at', int(now_ms)}
if ARGV[4] ~= '' then fields[#fields + 1] = 'lat'; fields[#fields + 1] = ARGV[4] end
if ARGV[5] ~= '' then fields[#fields + 1] = 'p99'; fields[#fields + 1] = ARGV[5] end
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('PEXPIRE', KEYS[2], int(ttl))
redis.call('ZADD', KEYS[1], int(now_ms + ttl), ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return now_ms
