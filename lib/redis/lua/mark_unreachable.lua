-- ARGV = {workerId}. Marks a worker unreachable until its next heartbeat (its current
-- lastHeartbeat is recorded; see UNREACHABLE). Returns 1 when the worker is known.
local hb = redis.call('HGET', WORKER_PREFIX .. ARGV[1], 'lastHeartbeat')
if not hb then return 0 end
redis.call('HSET', UNREACHABLE, ARGV[1], hb)
refresh_id(ARGV[1])
return 1
