--[[
level-stats: channels and cpsNow of some levels, on the store clock. Read only.
cpsNow counts the admissions that charged the level's CPS in (now - 1 s, now].

KEYS[2i - 1] level:calls:<level i>    ZCARD = channels
KEYS[2i]     level:admits:<level i>   admission log
(no ARGV)

Returns {channels 1, cpsNow 1, channels 2, cpsNow 2, ...}.
]]
local since = '(' .. int(now_us() - 1000000)
local reply = {}
for i = 1, #KEYS, 2 do
  reply[#reply + 1] = redis.call('ZCARD', KEYS[i])
  reply[#reply + 1] = redis.call('ZCOUNT', KEYS[i + 1], since, '+inf')
end
return reply
