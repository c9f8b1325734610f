--[[
remove-user: removes a user and every binding of its AOR (with their index entries).

KEYS[1] reg:users
KEYS[2] reg:user-names
KEYS[3] reg:aor:<username>
ARGV[1] key prefix `sf:{<cluster>}:reg:`
ARGV[2] username

Returns 1 when the user existed, else 0 (its bindings go either way).
]]
local prefix, name = ARGV[1], ARGV[2]
local existed = redis.call('HDEL', KEYS[1], name)
redis.call('ZREM', KEYS[2], name)
local flat = redis.call('HGETALL', KEYS[3])
for i = 1, #flat, 2 do
  local h = split_value(flat[i + 1])
  delete_binding(prefix, name, flat[i], h)
end
redis.call('DEL', KEYS[3])
return existed
