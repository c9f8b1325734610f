--[[
lookup: an AOR's unexpired bindings (read only: expired ones are left to register/sweep).

KEYS[1] reg:aor:<aor>

Returns the stored values of the unexpired bindings, unordered.
]]
local now = now_ms()
local out = {}
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
  local h = split_value(v)
  if is_live(h, now) then out[#out + 1] = v end
end
return out
