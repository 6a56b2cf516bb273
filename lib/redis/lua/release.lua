-- ARGV = {workerId, leaseId, rollbackLifetime (0|1), tenant, C, L, leaseTtlMs}. Returns 1 when
-- the lease was live. The freed slot goes straight to the head of the queue when clients wait
-- (dispatch(); C, L and leaseTtlMs may be '' when the caller never selected: then the waiting
-- proxies, woken on the capacity channel, serve it).
if ARGV[4] and ARGV[4] ~= '' then
  redis.call('ZREM', TENANT_PREFIX .. ARGV[4], ARGV[1] .. '|' .. ARGV[2])
end
if redis.call('ZREM', LEASES, ARGV[1] .. '|' .. ARGV[2]) == 0 then return 0 end
decr(ACTIVE, ARGV[1])
if ARGV[3] == '1' then decr(LIFETIME, ARGV[1]) end
rescore(ARGV[1])
local served = 0
if ARGV[5] and ARGV[5] ~= '' and redis.call('EXISTS', TICKET_EXPIRY) == 1 then
  local now = now_ms()
  expire_tickets(now)
  served = dispatch_all(tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), now)
end
if served == 0 then redis.call('PUBLISH', CAPACITY, ARGV[1]) end
return 1
