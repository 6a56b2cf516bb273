-- No ARGV. The grid-wide queue by group ('B' or 'B@major.minor'): {now, {group, waiting, oldestArrivalMs, {tenant,
-- waiting, oldestArrivalMs}, ...}, ...} for every group with waiting clients.
local now = now_ms()
if redis.call('EXISTS', TICKET_EXPIRY) == 1 then expire_tickets(now) end
local out = {now}
local function arrival(key)
  local h = redis.call('ZRANGE', key, 0, 0)[1]
  if not h then return 0 end
  local _, _, _, arr = ticket_info(h)
  return arr or 0
end
local groups = redis.call('SMEMBERS', QUEUE_GROUPS)
table.sort(groups)
for _, G in ipairs(groups) do
  local n = redis.call('ZCARD', qkey(G))
  if n > 0 then
    local g = {G, n, arrival(qkey(G))}
    for _, T in ipairs(redis.call('ZRANGEBYLEX', qkey(G) .. ':tenants', '-', '+')) do
      g[#g + 1] = {T, redis.call('ZCARD', tkey(G, T)), arrival(tkey(G, T))}
    end
    out[#out + 1] = g
  end
end
return out
