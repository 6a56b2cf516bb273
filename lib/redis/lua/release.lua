-- ARGV = {workerId, leaseId, rollbackLifetime (0|1), tenant}. Returns 1 when the lease was live.
-- The freed slot goes straight to the head of the queue when clients wait (dispatch()).
if ARGV[4] and ARGV[4] ~= '' then
  redis.call('ZREM', TENANT_PREFIX .. ARGV[4], ARGV[1] .. '|' .. ARGV[2])
end
redis.call('HDEL', SESSIONS, ARGV[2])
if redis.call('ZREM', LEASES, ARGV[1] .. '|' .. ARGV[2]) == 0 then return 0 end
decr(ACTIVE, ARGV[1])
if ARGV[3] == '1' then decr(LIFETIME, ARGV[1]) end
rescore(ARGV[1])
if dispatch_all(now_ms()) == 0 then redis.call('PUBLISH', CAPACITY, ARGV[1]) end
return 1
