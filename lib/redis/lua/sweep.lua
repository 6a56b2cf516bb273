-- ARGV = {limit, C, L, leaseTtlMs}. Collects expired leases and expired queue tickets, and
-- serves the queue (C, L and leaseTtlMs may be '': then only the collection). Returns how many
-- slots were freed.
local now = now_ms()
local freed = sweep(now, tonumber(ARGV[1]))
local served = 0
if redis.call('EXISTS', TICKET_EXPIRY) == 1 then
  expire_tickets(now)
  if ARGV[2] and ARGV[2] ~= '' then
    served = dispatch_all(tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), now)
  end
end
if freed > served then redis.call('PUBLISH', CAPACITY, '') end
return freed
