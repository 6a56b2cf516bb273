-- ARGV = {workerId, status}. 0 when the key is gone. shutting-down also sets the TTL
-- SHUTTING_DOWN_TTL (10 s), as upstream's graceful shutdown does.
local key = WORKER_PREFIX .. ARGV[1]
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HSET', key, 'status', ARGV[2])
if ARGV[2] == 'shutting-down' then redis.call('EXPIRE', key, SHUTTING_DOWN_TTL) end
refresh_id(ARGV[1])
if ARGV[2] == 'available' then redis.call('PUBLISH', CAPACITY, ARGV[1]) end
return 1
