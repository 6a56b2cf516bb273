-- ARGV = {leaseTtlMs, afterReconnect (0|1), workerId1, leaseId1, tenant1, workerId2, ...}.
-- Extends live leases. A lease Redis no longer has (a restart lost it, or it expired while this
-- proxy was stalled) is written again and counted again, as long as its worker still has an
-- active entry; right after a reconnect (afterReconnect = 1: Redis may have lost everything) the
-- entry is created too, so that the worker, when it registers again, counts its live sessions.
-- A named tenant's entry is renewed (or written again) with its lease. Returns how many leases
-- were restored.
--
-- The common case costs one command per call, not two per lease: a single ZADD XX CH moves every
-- lease that still exists; when it moved them all, only the tenants' entries are left (one ZADD
-- and one PEXPIRE per named tenant). Otherwise (a lease is missing, or was already at this
-- expiry) the lease-by-lease pass below runs; it is idempotent over what the ZADD did.
local now = now_ms()
local expiry = now + tonumber(ARGV[1])
local restored = 0
local count = (#ARGV - 2) / 3
if count == 0 then return 0 end
if ARGV[2] ~= '1' then
  local members = {}
  local by_tenant = {}
  for i = 3, #ARGV, 3 do
    local m = ARGV[i] .. '|' .. ARGV[i + 1]
    members[#members + 1] = expiry
    members[#members + 1] = m
    local t = ARGV[i + 2]
    if t ~= '' then
      by_tenant[t] = by_tenant[t] or {}
      local list = by_tenant[t]
      list[#list + 1] = expiry
      list[#list + 1] = m
    end
  end
  if redis.call('ZADD', LEASES, 'XX', 'CH', unpack(members)) == count then
    for t, list in pairs(by_tenant) do
      redis.call('ZADD', TENANT_PREFIX .. t, unpack(list))
      redis.call('PEXPIRE', TENANT_PREFIX .. t, tonumber(ARGV[1]))
    end
    return 0
  end
end
local function tenant(t, m)
  if t == '' then return end
  redis.call('ZADD', TENANT_PREFIX .. t, expiry, m)
  redis.call('PEXPIRE', TENANT_PREFIX .. t, tonumber(ARGV[1]))
end
for i = 3, #ARGV, 3 do
  local wid = ARGV[i]
  local m = wid .. '|' .. ARGV[i + 1]
  if redis.call('ZSCORE', LEASES, m) then
    redis.call('ZADD', LEASES, expiry, m)
    tenant(ARGV[i + 2], m)
  else
    if ARGV[2] == '1' and redis.call('HSETNX', ACTIVE, wid, 0) == 1 then
      redis.call('INCR', INDEXED)
      redis.call('HSETNX', LIFETIME, wid, 0)
    end
    if redis.call('HEXISTS', ACTIVE, wid) == 1 then
      redis.call('ZADD', LEASES, expiry, m)
      redis.call('HINCRBY', ACTIVE, wid, 1)
      rescore(wid)
      tenant(ARGV[i + 2], m)
      restored = restored + 1
    end
  end
end
return restored
