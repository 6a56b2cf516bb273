-- ARGV = {C, L, browser, leaseId, leaseTtlMs, checkIndex (0|1), tenant, tenantMax, queue (0|1),
-- deadlineInMs, maxWaiting, clientVersion}. The client's group (choose(): the workers of its
-- browser and Playwright major.minor, or of none; '' or an unknown version: any worker of the
-- browser) is also its queue's. Reserves a slot with choose() (the selection rule) and writes the
-- reservation's lease in the same step. Replies: the reservation (see reserve()); false: no
-- eligible worker; -1 (nothing reserved): checkIndex is 1 and the index has not seen every entry
-- of the active hash: re-index, then call again.
--
-- queue = 0 (Reserve()): served only when nobody waits in the group's queue; -3 when clients
-- wait (they come first); -2 when tenant (not '') holds tenantMax (> 0) live leases on every
-- proxy together.
-- queue = 1 (SharedQueue::Enter(); leaseId is the ticket): served at once when nobody waits and
-- a slot is free for the tenant; otherwise the ticket joins the queue (deadline: now +
-- deadlineInMs; it is served under C, L and leaseTtlMs, whichever proxy serves it) and the queue
-- is served (dispatch()), which may serve this very ticket. Replies
-- the reservation, 0 (queued), or -4 (maxWaiting tickets wait grid-wide: nothing queued).
local C = tonumber(ARGV[1])
local L = tonumber(ARGV[2])
local B = ARGV[3]
if B ~= 'chromium' and B ~= 'firefox' and B ~= 'webkit' then return false end
if ARGV[6] == '1' and tonumber(redis.call('GET', INDEXED) or '0') ~= redis.call('HLEN', ACTIVE) then
  return -1
end
local now = now_ms()
local ttl = tonumber(ARGV[5])
if sweep(now, 100) > 0 then redis.call('PUBLISH', CAPACITY, '') end
local T = ARGV[7] or ''
local tmax = tonumber(ARGV[8] or '0') or 0
local queued = ARGV[9] == '1'
local m = minor_of(ARGV[12])
local Q = group_of(B, m)
if redis.call('EXISTS', TICKET_EXPIRY) == 1 then expire_tickets(now) end
if redis.call('EXISTS', qkey(Q)) == 0 then
  if tenant_full(T, tmax, now) then
    if not queued then return -2 end
  else
    local sel = choose(B, m, C, L)
    if sel then return reserve(sel, ARGV[4], ttl, now, T) end
    if not queued then return false end
  end
elseif not queued then
  return -3
end
if redis.call('ZCARD', TICKET_EXPIRY) >= tonumber(ARGV[11]) then return -4 end
enqueue(ARGV[4], Q, T, tmax, now + tonumber(ARGV[10]), C, L, ttl, now)
return dispatch(Q, now, ARGV[4]) or 0
