-- ARGV = {limit}. Collects expired leases. Returns how many slots were freed.
local freed = sweep(now_ms(), tonumber(ARGV[1]))
if freed > 0 then redis.call('PUBLISH', CAPACITY, '') end
return freed
