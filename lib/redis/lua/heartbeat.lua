-- ARGV = {workerId, ttlMs}. 0 when the key is gone (the worker must register again). A worker
-- marked unreachable is selectable again (and proxies waiting for capacity are woken).
local key = WORKER_PREFIX .. ARGV[1]
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HSET', key, 'lastHeartbeat', now_ms())
redis.call('PEXPIRE', key, ARGV[2])
if redis.call('HEXISTS', UNREACHABLE, ARGV[1]) == 1 then
  refresh_id(ARGV[1])
  redis.call('PUBLISH', CAPACITY, ARGV[1])
end
return 1
