-- ARGV = {ticket, proxyTag}. The ticket's client left: the ticket leaves the
-- queue; a slot granted to it and not yet taken by its proxy is given back (its lifetime count
-- too: no session started). Then the queue is served. Returns 1 when the ticket was queued, 2
-- when it had a grant, 0 when it was unknown.
local t = ARGV[1]
local now = now_ms()
local out = 0
if redis.call('HEXISTS', TICKETS, t) == 1 then
  drop_ticket(t)
  out = 1
else
  local gk = GRANTS_PREFIX .. ARGV[2]
  local g = redis.call('HGET', gk, t)
  if g then
    redis.call('HDEL', gk, t)
    local f = {}
    for part in string.gmatch(g .. '\n', '([^\n]*)\n') do f[#f + 1] = part end
    local wid, T = f[1], f[9] or ''
    if T ~= '' then redis.call('ZREM', TENANT_PREFIX .. T, wid .. '|' .. t) end
    if redis.call('ZREM', LEASES, wid .. '|' .. t) == 1 then
      decr(ACTIVE, wid)
      decr(LIFETIME, wid)
      rescore(wid)
    end
    out = 2
  end
end
dispatch_all(now)
if out == 2 then redis.call('PUBLISH', CAPACITY, '') end
return out
