-- ARGV = {proxyTag}. Serves the queue where it can (a slot nobody reported:
-- a worker that registered through upstream's code, a ticket that expired), then takes the
-- grants waiting for this proxy. Returns them as a flat array: ticket, grant, ticket, grant, ...
-- (a grant: the reservation reply's fields and the tenant, joined by newlines).
dispatch_all(now_ms())
local gk = GRANTS_PREFIX .. ARGV[1]
local g = redis.call('HGETALL', gk)
if #g > 0 then redis.call('DEL', gk) end
return g
