--[[
common.lua: helpers shared by every registrar-store script. registrar-scripts.ts prepends this file
to each script before registering it, so each script is still one self-contained EVAL body.

Key builders mirror registrar-keys.ts character for character (registrar-keys.ts is the source of
truth; test/redis-registrar-store.test.ts runs these builders and compares). The prefix
`sf:{<cluster>}:reg:` (ARGV[1]) carries the cluster's hash tag, so every key lives in one slot.

A stored binding is `<header>\n<body>` (see registrar-keys.ts). The header is a JSON array of
strings: H_EXP expiresAtMs, H_REG registeredAtMs, H_RTT pingRttMs or '', H_CSEQ, H_CALL callId,
H_NODE owner nodeId, H_URI ownerUri. Numbers stay strings written with int() (tostring() and
cjson.encode would round them to 14 digits); the body is TypeScript's JSON, never re-encoded here.
]]

-- Effects replication (the default from Redis 5): TIME is then allowed before writes.
if redis.replicate_commands then redis.replicate_commands() end

local H_EXP, H_REG, H_RTT, H_CSEQ, H_CALL, H_NODE, H_URI = 1, 2, 3, 4, 5, 6, 7

local function int(n)
  return string.format('%.0f', n)
end

-- The store clock: Redis TIME in ms. Never a node's clock.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function k_users(prefix) return prefix .. 'users' end
local function k_user_names(prefix) return prefix .. 'user-names' end
local function k_aor(prefix, aor) return prefix .. 'aor:' .. aor end
local function k_expiry(prefix) return prefix .. 'expiry' end
local function k_owner(prefix, node) return prefix .. 'owner:' .. node end
local function k_fail(prefix, ip) return prefix .. 'fail:' .. ip end
local function k_banned(prefix) return prefix .. 'banned' end
local function k_secret(prefix) return prefix .. 'secret' end
local function k_bans(prefix) return prefix .. 'bans' end
local function k_nonce(prefix, nonce) return prefix .. 'nonce:' .. nonce end

-- `<aor>:<key>`; an AOR never holds ':', so the first ':' splits it back.
local function ref(aor, key) return aor .. ':' .. key end
local function split_ref(r)
  local i = string.find(r, ':', 1, true)
  return string.sub(r, 1, i - 1), string.sub(r, i + 1)
end

-- A stored binding's header (table of strings) and body (JSON text).
local function split_value(v)
  local i = string.find(v, '\n', 1, true)
  return cjson.decode(string.sub(v, 1, i - 1)), string.sub(v, i + 1)
end
local function join_value(h, body)
  return cjson.encode(h) .. '\n' .. body
end

local function is_live(h, now)
  return tonumber(h[H_EXP]) > now
end

-- Deletes one binding from its AOR hash and both indexes.
local function delete_binding(prefix, aor, key, h)
  local r = ref(aor, key)
  redis.call('HDEL', k_aor(prefix, aor), key)
  redis.call('ZREM', k_expiry(prefix), r)
  redis.call('ZREM', k_owner(prefix, h[H_NODE]), r)
end

-- The stored binding (header, body) when unexpired; an expired one is deleted on the way.
local function live_binding(prefix, aor, key, now)
  local v = redis.call('HGET', k_aor(prefix, aor), key)
  if not v then return nil end
  local h, body = split_value(v)
  if is_live(h, now) then return h, body end
  delete_binding(prefix, aor, key, h)
  return nil
end

-- Publishes a ban notice to every node. `ip` is JSON-encoded by cjson (a string: exact).
local function publish_ban(prefix, ip, until_ms)
  redis.call('PUBLISH', k_bans(prefix), '{"ip":' .. cjson.encode(ip) .. ',"untilMs":' .. int(until_ms) .. '}')
end

-- ---- end of common.lua; the script follows ----
