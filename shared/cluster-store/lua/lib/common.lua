--[[
common.lua: helpers shared by every cluster-store script. scripts.ts prepends this file to each
script before registering it, so each script is still one self-contained EVAL body.

Key builders: they mirror keys.ts character for character (keys.ts is the source of truth;
test/redis-cluster-store-keys.test.ts runs these builders and compares). All keys of a cluster
carry the hash tag `{<cluster>}` in the prefix (ARGV[1] of every script), so they live in one
Redis Cluster slot: building the keys of existing records here (instead of declaring them all in
KEYS, which is impossible for keys found in the data) is safe in practice, though not strictly
what Redis Cluster's script rules ask for.

Numbers: Lua numbers are doubles, exact for integers below 2^53 (µs since 1970 are ~2^51).
tostring() keeps only 14 digits, so every number written to Redis goes through int().
]]

-- Effects replication (the default from Redis 5): TIME and SPOP are then allowed before writes.
if redis.replicate_commands then redis.replicate_commands() end

local function int(n)
  return string.format('%.0f', n)
end

-- The store clock: Redis TIME in µs. Never a node's clock.
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function k_nodes(prefix) return prefix .. 'nodes' end
local function k_fenced(prefix) return prefix .. 'fenced' end
local function k_calls_by_start(prefix) return prefix .. 'calls:by-start' end
local function k_calls_by_expiry(prefix) return prefix .. 'calls:by-expiry' end
local function k_node_epoch(prefix, node) return prefix .. 'node:epoch:' .. node end
local function k_node_info(prefix, node) return prefix .. 'node:info:' .. node end
local function k_node_calls(prefix, node, epoch) return prefix .. 'node:calls:' .. epoch .. ':' .. node end
local function k_call(prefix, id) return prefix .. 'call:' .. id end
local function k_level_calls(prefix, level) return prefix .. 'level:calls:' .. level end
local function k_level_admits(prefix, level) return prefix .. 'level:admits:' .. level end
local function k_switches(prefix) return prefix .. 'switches' end
local function k_events(prefix) return prefix .. 'events' end
local function k_probes(prefix) return prefix .. 'probes' end
local function k_probe(prefix, switch_id, node) return prefix .. 'probe:' .. switch_id .. ':' .. node end
local function k_sticky(prefix, source) return prefix .. 'sticky:' .. source end
local function k_relays(prefix) return prefix .. 'relays' end
local function k_media_session(prefix, id) return prefix .. 'media:session:' .. id end
local function k_media_by_start(prefix) return prefix .. 'media:by-start' end
local function k_media_by_expiry(prefix) return prefix .. 'media:by-expiry' end
local function k_media_relays(prefix) return prefix .. 'media:relays' end
local function k_relay_media(prefix, relay) return prefix .. 'relay:media:' .. relay end
local function k_dialog(prefix, id) return prefix .. 'dialog:' .. id end

-- Tells every node (subscribed to the cluster's `events` channel) that the switch registry
-- changed; they re-read it. Pub/sub is fire-and-forget: see docs/cluster-store.md.
local function publish_switches_changed(prefix)
  redis.call('PUBLISH', k_events(prefix), 'switches')
end

-- ---- media sessions ----
-- A session is live while its expiry (ms, store clock, sub-ms precision) is at or after now,
-- like a key's PEXPIRE. Its hash carries `exp` and expires by itself a little later; the indexes
-- (`media:by-start`, `media:by-expiry`, `relay:media:<relay>`, `media:relays`) are pruned here.

-- A ms score or time with its sub-ms part (ZADD/ZCOUNT take decimals; int() would round).
local function ms3(n)
  return string.format('%.3f', n)
end

-- Drops `id` from its relay's session set, and the relay from `media:relays` once that is empty.
local function media_unlink_relay(prefix, id, relay)
  local set = k_relay_media(prefix, relay)
  redis.call('ZREM', set, id)
  if redis.call('EXISTS', set) == 0 then redis.call('SREM', k_media_relays(prefix), relay) end
end

-- Forgets session `id` (whose hash holds `relay`, or nil when the hash is gone): indexes and hash.
local function media_drop(prefix, id, relay)
  redis.call('ZREM', k_media_by_start(prefix), id)
  redis.call('ZREM', k_media_by_expiry(prefix), id)
  if relay then media_unlink_relay(prefix, id, relay) end
  redis.call('DEL', k_media_session(prefix, id))
end

-- Drops up to `budget` sessions whose expiry is before `now_ms`, earliest expiry first.
-- Returns 1 when expired ones remain, else 0.
local function media_prune(prefix, now_ms, budget)
  local ids = redis.call('ZRANGEBYSCORE', k_media_by_expiry(prefix), '-inf', '(' .. ms3(now_ms), 'LIMIT', 0, budget)
  for _, id in ipairs(ids) do
    local rec = redis.call('HMGET', k_media_session(prefix, id), 'relay', 'exp')
    -- A hash written again since (a newer session of the same call) is left to its own expiry.
    if rec[2] and tonumber(rec[2]) >= now_ms then
      redis.call('ZADD', k_media_by_expiry(prefix), rec[2], id)
    else
      media_drop(prefix, id, rec[1])
    end
  end
  if #ids >= budget then return 1 end
  return 0
end

-- Keeps an index key no longer than its longest-lived session: PEXPIREAT just after the highest
-- expiry of `by_expiry` (a zset of expiry scores), so a cluster that stopped using media relays
-- keeps nothing.
local function media_expire_with(key, by_expiry)
  local last = redis.call('ZRANGE', by_expiry, -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIREAT', key, int(math.ceil(tonumber(last[2])) + 1)) end
end

-- Releases call `id` given its record's node, epoch (string) and levels (JSON array): removes it
-- from every level and index and deletes the record. The caller has checked who may do it.
local function release_record(prefix, id, node, epoch, levels_json)
  local ok, levels = pcall(cjson.decode, levels_json or '[]')
  if ok and type(levels) == 'table' then
    for _, level in ipairs(levels) do
      redis.call('ZREM', k_level_calls(prefix, level), id)
    end
  end
  redis.call('ZREM', k_calls_by_start(prefix), id)
  redis.call('ZREM', k_calls_by_expiry(prefix), id)
  if node and epoch then redis.call('SREM', k_node_calls(prefix, node, epoch), id) end
  redis.call('DEL', k_call(prefix, id))
end

-- Fencing: gives `node` a new epoch, max(old + 1, now in ms), so that epochs keep increasing even
-- after the store lost the counter. Queues the old epoch's call set in `fenced` for release.
-- Returns the new epoch.
local function bump_epoch(prefix, epoch_key, node, now_ms)
  local old = tonumber(redis.call('GET', epoch_key) or '0') or 0
  local new = math.max(old + 1, now_ms)
  redis.call('SET', epoch_key, int(new))
  if old > 0 and redis.call('EXISTS', k_node_calls(prefix, node, int(old))) == 1 then
    redis.call('ZADD', k_fenced(prefix), int(now_ms), int(old) .. ':' .. node)
  end
  return new
end

-- Releases calls of fenced epochs, oldest fencing first, touching at most `budget` calls.
-- Returns the number released and 1 when fenced call sets remain (else 0).
local function drain_fenced(prefix, budget)
  local fenced = k_fenced(prefix)
  local released, work = 0, 0
  while work < budget do
    local head = redis.call('ZRANGE', fenced, 0, 0)[1]
    if not head then return released, 0 end
    local sep = string.find(head, ':', 1, true)
    local epoch, node = string.sub(head, 1, sep - 1), string.sub(head, sep + 1)
    local set_key = k_node_calls(prefix, node, epoch)
    local ids = redis.call('SPOP', set_key, budget - work)
    work = work + math.max(#ids, 1)
    for _, id in ipairs(ids) do
      local rec = redis.call('HMGET', k_call(prefix, id), 'node', 'epoch', 'levels', 'dlg')
      -- Only a record still held under the fenced epoch (it may have been taken over since).
      if rec[1] == node and rec[2] == epoch then
        -- A call with a live dialog record (naming this call) may still be up: it becomes an
        -- orphan (node '-', epoch 0, in no node's call set), counted until releaseOrphan or its age.
        if rec[4] and redis.call('HGET', k_dialog(prefix, rec[4]), 'key') == id then
          redis.call('HSET', k_call(prefix, id), 'node', '-', 'epoch', '0')
        else
          release_record(prefix, id, node, epoch, rec[3])
          released = released + 1
        end
      end
    end
    if redis.call('EXISTS', set_key) == 0 then redis.call('ZREM', fenced, head) end
  end
  if redis.call('ZCARD', fenced) > 0 then return released, 1 end
  return released, 0
end

-- ---- admission (admit-call.lua, admit-calls.lua) ----

-- Admits call `id` for `node` (its epoch checked by the caller) at store time `now` (µs): checks
-- every level and, only when all allow it, takes them all. `lv` is the list of levels, in request
-- order, each {id, cap, window_cap, charge}: channel cap (-1 none), CPS window cap = cps + burst
-- (-1 no CPS cap), charge '1' when this attempt takes a CPS slot there. Per level: the channel cap
-- (ZCARD of the level's call zset >= cap -> refused 'channels'), then, when the attempt charges
-- CPS, the exact sliding window of cps-window.ts (admissions in (now - 1 s, now] >= cap ->
-- refused 'cps', retry when the oldest of them leaves the window). A refusal takes nothing.
-- An existing record for the call id is released first (a failover re-attempt moves the call;
-- a record held by another node or epoch is taken over); a refused re-attempt stays released.
-- Returns {1, start ms} | {0, 'channels' | 'cps', level, retry after ms}.
local function admit_one(prefix, id, node, epoch, now, max_age, levels_json, meta, log_max, lv)
  local now_ms = math.floor(now / 1000)
  local call_key = k_call(prefix, id)
  local old = redis.call('HMGET', call_key, 'node', 'epoch', 'levels')
  if old[1] then release_record(prefix, id, old[1], old[2], old[3]) end

  for i = 1, #lv do
    local l = lv[i]
    if l[2] >= 0 and redis.call('ZCARD', k_level_calls(prefix, l[1])) >= l[2] then
      return {0, 'channels', l[1], 0}
    end
    if l[4] == '1' and l[3] >= 0 then
      local admits = k_level_admits(prefix, l[1])
      local since = '(' .. int(now - 1000000)
      if redis.call('ZCOUNT', admits, since, '+inf') >= l[3] then
        local oldest = redis.call('ZRANGEBYSCORE', admits, since, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
        local wait = 1
        if oldest[2] then wait = math.ceil((tonumber(oldest[2]) + 1000000 - now) / 1000) end
        if wait < 1 then wait = 1 end
        return {0, 'cps', l[1], wait}
      end
    end
  end

  for i = 1, #lv do
    local l = lv[i]
    if l[4] == '1' then
      local log = k_level_admits(prefix, l[1])
      redis.call('ZADD', log, int(now), int(now) .. ':' .. id)
      redis.call('ZREMRANGEBYSCORE', log, '-inf', int(now - 1000000))
      local size = redis.call('ZCARD', log)
      if size > log_max then redis.call('ZREMRANGEBYRANK', log, 0, size - log_max - 1) end
      redis.call('PEXPIRE', log, 1001)
    end
    redis.call('ZADD', k_level_calls(prefix, l[1]), int(now_ms), id)
  end

  local expires = now_ms + max_age
  redis.call('HSET', call_key, 'node', node, 'epoch', epoch, 'levels', levels_json,
    'start', int(now_ms), 'exp', int(expires), 'meta', meta)
  redis.call('SADD', k_node_calls(prefix, node, epoch), id)
  redis.call('ZADD', k_calls_by_start(prefix), int(now_ms), id)
  redis.call('ZADD', k_calls_by_expiry(prefix), int(expires), id)
  return {1, now_ms}
end

-- Releases call `id` if its record is `node`'s under `epoch` (the caller checked the epoch is
-- the node's current one): 'released', or 'not-found' (no record, or another node's or epoch's:
-- released already, reaped for its age, or taken over).
local function release_one(prefix, id, node, epoch)
  local rec = redis.call('HMGET', k_call(prefix, id), 'node', 'epoch', 'levels')
  if not rec[1] or rec[1] ~= node or tonumber(rec[2]) ~= tonumber(epoch) then return 'not-found' end
  release_record(prefix, id, rec[1], rec[2], rec[3])
  return 'released'
end

-- ---- end of common.lua; the script follows ----
