--[[
register: applies one REGISTER's changes to an AOR atomically (RFC 3261 §10.3 steps 6-8).
  1. The AOR's expired bindings count as absent (and are deleted on the way).
  2. Every unexpired binding the change touches (a key it upserts or removes; all of them with
     removeAll) with the same Call-ID and a CSeq >= this one refuses the whole change:
     'out-of-order'.
  3. When the change upserts anything and the AOR would then hold more than maxContacts
     unexpired bindings: 'too-many-contacts'. (A change that only removes is never refused.)
  4. Otherwise removals go, upserts are written: expiresAtMs = now + expires; a refresh keeps
     registeredAtMs, and pingRttMs when the flow (owner node, protocol, addresses, ports,
     connection id) is unchanged. Both indexes follow.

KEYS[1] reg:aor:<aor>
KEYS[2] reg:expiry
ARGV[1] key prefix `sf:{<cluster>}:reg:`
ARGV[2] aor
ARGV[3] callId
ARGV[4] cseq
ARGV[5] removeAll: '1' | '0'
ARGV[6] maxContacts
ARGV[7] number of removals R, then R binding keys
then    number of upserts U, then per upsert 5 values:
        key, expires (ms, integer > 0), owner nodeId, ownerUri, body JSON
        (the body's `flow` holds protocol, address, port, connectionId, localAddress, localPort)

Returns {1, value...} (every stored binding of the AOR afterwards, all unexpired; unordered)
     or {0, 'out-of-order' | 'too-many-contacts'} (nothing changed).
Owner-index keys of existing bindings are built here from the prefix (one hash tag: same slot).
]]
local prefix, aor, call_id, cseq = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local remove_all, max_contacts = ARGV[5] == '1', tonumber(ARGV[6])
local now = now_ms()

local cur, cur_body, expired = {}, {}, {}
local live_count = 0
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do
  local h, body = split_value(flat[i + 1])
  if is_live(h, now) then
    cur[flat[i]] = h
    cur_body[flat[i]] = body
    live_count = live_count + 1
  else
    expired[flat[i]] = h
  end
end

local n_removals = tonumber(ARGV[7])
local removals = {}
for i = 1, n_removals do removals[i] = ARGV[7 + i] end
local at = 8 + n_removals
local n_upserts = tonumber(ARGV[at])
local upserts = {}
for i = 1, n_upserts do
  local j = at + 1 + (i - 1) * 5
  upserts[i] = { key = ARGV[j], expires = tonumber(ARGV[j + 1]), node = ARGV[j + 2], uri = ARGV[j + 3], body = ARGV[j + 4] }
end

-- 2. The Call-ID/CSeq rule over every binding the change touches.
local function out_of_order(h)
  return h[H_CALL] == call_id and tonumber(h[H_CSEQ]) >= cseq
end
if remove_all then
  for _, h in pairs(cur) do
    if out_of_order(h) then return {0, 'out-of-order'} end
  end
else
  for _, key in ipairs(removals) do
    if cur[key] and out_of_order(cur[key]) then return {0, 'out-of-order'} end
  end
  for _, u in ipairs(upserts) do
    if cur[u.key] and out_of_order(cur[u.key]) then return {0, 'out-of-order'} end
  end
end

-- 3. The contact cap.
local removed = {}
if remove_all then
  for key, _ in pairs(cur) do removed[key] = true end
else
  for _, key in ipairs(removals) do
    if cur[key] then removed[key] = true end
  end
end
local after = live_count
for _, _ in pairs(removed) do after = after - 1 end
for _, u in ipairs(upserts) do
  if not cur[u.key] then after = after + 1 end
end
if n_upserts > 0 and after > max_contacts then return {0, 'too-many-contacts'} end

-- 4. Apply.
for key, h in pairs(expired) do delete_binding(prefix, aor, key, h) end
for key, _ in pairs(removed) do delete_binding(prefix, aor, key, cur[key]) end

local function same_flow(old_h, old_body, u)
  if old_h[H_NODE] ~= u.node then return false end
  local a, b = cjson.decode(old_body).flow, cjson.decode(u.body).flow
  return a.protocol == b.protocol and a.address == b.address and a.port == b.port and
    a.connectionId == b.connectionId and a.localAddress == b.localAddress and a.localPort == b.localPort
end

for _, u in ipairs(upserts) do
  local old = cur[u.key]
  local exp = now + u.expires
  local h = { int(exp), int(now), '', int(cseq), call_id, u.node, u.uri }
  local r = ref(aor, u.key)
  if old then
    h[H_REG] = old[H_REG]
    if same_flow(old, cur_body[u.key], u) then h[H_RTT] = old[H_RTT] end
    if old[H_NODE] ~= u.node then redis.call('ZREM', k_owner(prefix, old[H_NODE]), r) end
  end
  redis.call('HSET', KEYS[1], u.key, join_value(h, u.body))
  redis.call('ZADD', KEYS[2], int(exp), r)
  redis.call('ZADD', k_owner(prefix, u.node), int(exp), r)
end

local out = {1}
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do out[#out + 1] = v end
return out
