-- ARGV = {C, L, browser, leaseId, leaseTtlMs, checkIndex (0|1), tenant, tenantMax}. Upstream's rule (reference §4.1)
-- with deterministic ties (higher lifetime, lower active, smaller id) and pwgrid's recycle stagger
-- (selection_policy.h), plus: a worker hash without an endpoint is not eligible, and the
-- reservation's lease is written in the same step. Returns -1 (nothing reserved) when checkIndex
-- is 1 and the index has not seen every entry of the active hash: re-index, then call again.
-- Returns -2 (nothing reserved) when tenant (not '') holds tenantMax (> 0) live leases on every
-- proxy together; a named tenant's lease is also written to its TENANT_PREFIX set.
--
-- Cost: the best eligible worker of a lifetime level is the level's first index entry (fewest
-- active) unless that one is full, and then the whole level is full. So the script visits one
-- entry per lifetime level that is full, plus one per stale entry it repairs: O(levels · log N),
-- levels <= L, instead of upstream's O(N).
local C = tonumber(ARGV[1])
local L = tonumber(ARGV[2])
local B = ARGV[3]
if B ~= 'chromium' and B ~= 'firefox' and B ~= 'webkit' then return false end
if ARGV[6] == '1' and tonumber(redis.call('GET', INDEXED) or '0') ~= redis.call('HLEN', ACTIVE) then
  return -1
end
local now = now_ms()
if sweep(now, 100) > 0 then redis.call('PUBLISH', CAPACITY, '') end
local T = ARGV[7] or ''
local TKEY = TENANT_PREFIX .. T
if T ~= '' then
  redis.call('ZREMRANGEBYSCORE', TKEY, '-inf', now)
  local tmax = tonumber(ARGV[8] or '0') or 0
  if tmax > 0 and redis.call('ZCARD', TKEY) >= tmax then return -2 end
end
local IDX = INDEX_PREFIX .. B
local n = redis.call('SCARD', KNOWN_PREFIX .. B)
if n == 0 then return false end
local margin = math.max(1, math.floor(L / n))
local budget = 100000  -- visits; only a badly stale index comes near it

-- The recycle stagger: is a worker of B alive and draining, or alive at its lifetime limit?
local recycling = false
for _, wid in ipairs(redis.call('SMEMBERS', DRAINING_PREFIX .. B)) do
  if refresh(wid, B) == 'unavailable' then
    recycling = true
    break
  end
end
while not recycling and budget > 0 do
  budget = budget - 1
  local e = redis.call('ZRANGEBYSCORE', IDX, '-inf', '(' .. fmt(-(L - 1) * M), 'WITHSCORES',
                       'LIMIT', 0, 1)
  if #e == 0 then break end
  local state, a, l = refresh(e[1], B)
  if state == 'unavailable' or (state == 'available' and l >= L) then recycling = true end
end

-- The best eligible worker with lifetime <= maxl, or nil.
local function best(maxl)
  local lo = -maxl * M
  while budget > 0 do
    budget = budget - 1
    local e = redis.call('ZRANGEBYSCORE', IDX, fmt(lo), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if #e == 0 then return nil end
    local wid = e[1]
    local state, a, l = refresh(wid, B)
    if state == 'unavailable' then recycling = true end
    if state == 'available' and score(a, l) == tonumber(e[2]) then
      if recycling and l == L - 1 then
        lo = -(l - 1) * M           -- the stagger: skip this level
      elseif a < C then
        return wid, a, l
      else
        lo = -(l - 1) * M           -- the level's fewest-active worker is full: so is the level
      end
    end
  end
  return nil
end

local sel = best(L - margin - 1)
if not sel then sel = best(L - 1) end
if not sel then return false end
local a = redis.call('HINCRBY', ACTIVE, sel, 1)
local l = redis.call('HINCRBY', LIFETIME, sel, 1)
redis.call('ZADD', IDX, 'XX', fmt(score(a, l)), sel)
redis.call('ZADD', LEASES, now + tonumber(ARGV[5]), sel .. '|' .. ARGV[4])
if T ~= '' then
  redis.call('ZADD', TKEY, now + tonumber(ARGV[5]), sel .. '|' .. ARGV[4])
  redis.call('PEXPIRE', TKEY, tonumber(ARGV[5]))
end
local f = redis.call('HMGET', WORKER_PREFIX .. sel, 'id', 'endpoint', 'status', 'startedAt',
                     'playwrightVersion')
for i = 1, 5 do if not f[i] then f[i] = '' end end
return {sel, a, l, f[1], f[2], f[3], f[4], f[5]}
