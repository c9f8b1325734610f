--[[
put-users: writes user records and their name index. In seed mode only the users that do not
exist yet are added (a node's config seeds its cluster).

KEYS[1] reg:users
KEYS[2] reg:user-names
ARGV[1] '1' seed mode (add missing only) | '0' add or replace
ARGV[2..] pairs: username, the UserRecord as JSON

Returns how many users were added (replacements not counted).
]]
local seed = ARGV[1] == '1'
local added = 0
for i = 2, #ARGV, 2 do
  local name, json = ARGV[i], ARGV[i + 1]
  local n
  if seed then n = redis.call('HSETNX', KEYS[1], name, json) else n = redis.call('HSET', KEYS[1], name, json) end
  if n == 1 then
    redis.call('ZADD', KEYS[2], 0, name)
    added = added + 1
  end
end
return added
