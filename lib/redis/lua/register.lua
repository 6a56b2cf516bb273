-- ARGV = {workerId, uuid, browserType, endpoint, status, startedAt, ttlMs, playwrightVersion}.
-- Upstream's registration (HSETNX of both counters, HSET of the six fields, EXPIRE) as one atomic
-- step, so no partial or persistent key can be left behind (upstream defects 178d362, I4).
local key = WORKER_PREFIX .. ARGV[1]
if redis.call('HSETNX', ACTIVE, ARGV[1], 0) == 1 then redis.call('INCR', INDEXED) end
redis.call('HSETNX', LIFETIME, ARGV[1], 0)
redis.call('HSET', key, 'id', ARGV[2], 'browserType', ARGV[3], 'endpoint', ARGV[4],
           'status', ARGV[5], 'startedAt', ARGV[6], 'lastHeartbeat', now_ms())
if ARGV[8] ~= '' then
  redis.call('HSET', key, 'playwrightVersion', ARGV[8])
else
  redis.call('HDEL', key, 'playwrightVersion')
end
redis.call('PEXPIRE', key, ARGV[7])
refresh_id(ARGV[1])
if ARGV[5] == 'available' then redis.call('PUBLISH', CAPACITY, ARGV[1]) end
return 1
