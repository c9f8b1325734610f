--[[
record-ping-rtts: sets pingRttMs on unexpired bindings; unknown or expired ones are ignored.

KEYS[1] reg:expiry (declared for the slot; AOR keys are built from the prefix)
ARGV[1] key prefix `sf:{<cluster>}:reg:`
ARGV[2] number of samples N, then per sample 3 values: aor, key, rtt (ms, as JS prints it)

Returns how many bindings were updated.
]]
local prefix = ARGV[1]
local now = now_ms()
local updated = 0
for i = 0, tonumber(ARGV[2]) - 1 do
  local aor, key, rtt = ARGV[3 + i * 3], ARGV[4 + i * 3], ARGV[5 + i * 3]
  local h, body = live_binding(prefix, aor, key, now)
  if h then
    h[H_RTT] = rtt
    redis.call('HSET', k_aor(prefix, aor), key, join_value(h, body))
    updated = updated + 1
  end
end
return updated
