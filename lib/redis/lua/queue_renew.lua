-- ARGV = {leaseTtlMs, proxyTag, then per ticket: ticket, group, tenant, tenantMax,
-- deadlineInMs, C, L}. Renews this proxy's queued tickets (expiry: min(now + leaseTtlMs, deadline)).
-- A ticket Redis no longer has and has not granted (Redis restarted empty, or the ticket expired
-- while its proxy was stalled) joins the queue again, at the back. Returns how many did.
local now = now_ms()
local ttl = tonumber(ARGV[1])
local gk = GRANTS_PREFIX .. ARGV[2]
local restored = 0
for i = 3, #ARGV, 7 do
  local t = ARGV[i]
  if redis.call('HEXISTS', TICKETS, t) == 1 then
    local _, d = ticket_info(t)
    redis.call('ZADD', TICKET_EXPIRY, 'XX', fmt(math.min(d, now + ttl)), t)
  elseif redis.call('HEXISTS', gk, t) == 0 and tonumber(ARGV[i + 4]) > 0 then
    enqueue(t, ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]), now + tonumber(ARGV[i + 4]),
            tonumber(ARGV[i + 5]), tonumber(ARGV[i + 6]), ttl, now)
    restored = restored + 1
  end
end
return restored
