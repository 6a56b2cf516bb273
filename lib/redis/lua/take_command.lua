-- ARGV = {workerId}. Takes a pending `shutdown` command once (other values are left alone).
local key = COMMAND_PREFIX .. ARGV[1]
if redis.call('GET', key) == 'shutdown' then
  redis.call('DEL', key)
  return 1
end
return 0
