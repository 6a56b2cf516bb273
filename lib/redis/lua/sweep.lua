-- ARGV = {limit}. Collects expired leases and expired queue tickets, and serves the queue.
-- Returns how many slots were freed.
local now = now_ms()
local freed = sweep(now, tonumber(ARGV[1]))
local served = dispatch_all(now)
if freed > served then redis.call('PUBLISH', CAPACITY, '') end
return freed
