-- ARGV = {workerId}. Deletes the worker's key and, unlike upstream's worker, its counter entries
-- too: a gone worker must not keep shrinking the selection margin until the reaper runs
-- (upstream defect I1).
redis.call('DEL', WORKER_PREFIX .. ARGV[1])
forget(ARGV[1])
return 1
