// The Lua scripts of the Redis registry. Internal to libpwgrid.
//
// Every script takes no KEYS and names upstream's keys itself, as upstream's selector does (so
// none of them is Redis Cluster safe; neither is upstream). Times are Redis TIME in Unix ms, so
// all proxies share one clock.
//
// The selection index (pwgrid's, so that a selection costs O(log N) instead of upstream's scan of
// every worker). Per browser type B:
//   pwgrid:idx:B       sorted set of the workers believed alive and available, scored
//                      -lifetime * 2^21 + min(active, 2^21 - 1): best first (highest lifetime,
//                      then fewest active, then smallest id, which is the set's own tie order);
//   pwgrid:known:B     set of B's entries in the active hash (upstream's N for the margin);
//   pwgrid:draining:B  set of B's workers believed alive and not available (the recycle stagger).
// `pwgrid:indexed` counts the active hash's entries the index has seen. Every script below keeps
// all of it up to date. A writer that bypasses them (upstream's worker registering itself) changes
// HLEN of the active hash; selection notices the difference and asks for a full re-index first.
// Selection re-reads the authoritative hashes of each candidate it looks at and repairs entries
// that disagree, so stale entries (a worker whose key expired) cost one visit each.
#ifndef PWGRID_LIB_REDIS_SCRIPTS_H_
#define PWGRID_LIB_REDIS_SCRIPTS_H_

#include "lib/common/internal.h"

#include <string>

namespace pwgrid::internal {

// Helpers shared by the scripts: now_ms(), decr(hash, wid), sweep(now, limit).
inline const char kLuaPrelude[] = R"lua(
local ACTIVE = 'cluster:active_connections'
local LIFETIME = 'cluster:lifetime_connections'
local LEASES = 'pwgrid:leases'
local INDEXED = 'pwgrid:indexed'
-- Workers a proxy could not reach: worker id -> its lastHeartbeat when it was marked. Such a
-- worker is not selected while its lastHeartbeat is unchanged (until it heartbeats again).
local UNREACHABLE = 'pwgrid:unreachable'
local M = 2097152  -- 2^21: lifetimes below 2^32 and active counts below 2^21 - 1 order exactly
local function score(a, l) return -l * M + math.min(a, M - 1) end
local function fmt(x) return string.format('%.0f', x) end
-- The browser type of a worker id "<browser>:<uuid>", or nil.
local function browser_of(wid)
  local b = string.match(wid, '^(%a+):.')
  if b == 'chromium' or b == 'firefox' or b == 'webkit' then return b end
  return nil
end
local function num(hash, wid) return tonumber(redis.call('HGET', hash, wid)) end
-- Takes a worker out of all of B's index keys.
local function unindex(wid, B)
  redis.call('SREM', 'pwgrid:known:' .. B, wid)
  redis.call('ZREM', 'pwgrid:idx:' .. B, wid)
  redis.call('SREM', 'pwgrid:draining:' .. B, wid)
end
-- Re-reads one worker and puts it where it belongs in B's index. Returns the worker's state:
-- 'gone' (no active entry), 'dead', 'unavailable' or 'available', and its active and lifetime.
local function refresh(wid, B)
  local a = num(ACTIVE, wid)
  if a == nil then
    unindex(wid, B)
    return 'gone'
  end
  redis.call('SADD', 'pwgrid:known:' .. B, wid)
  local l = num(LIFETIME, wid) or 0
  local key = 'worker:' .. wid
  local f = redis.call('HMGET', key, 'status', 'browserType', 'endpoint', 'lastHeartbeat')
  local mark = redis.call('HGET', UNREACHABLE, wid)
  if mark and mark ~= f[4] then  -- it heartbeat since it was marked
    redis.call('HDEL', UNREACHABLE, wid)
    mark = nil
  end
  if redis.call('PTTL', key) <= 0 or f[2] ~= B or mark then
    redis.call('ZREM', 'pwgrid:idx:' .. B, wid)
    redis.call('SREM', 'pwgrid:draining:' .. B, wid)
    return 'dead', a, l
  end
  if f[1] ~= 'available' then
    redis.call('ZREM', 'pwgrid:idx:' .. B, wid)
    redis.call('SADD', 'pwgrid:draining:' .. B, wid)
    return 'unavailable', a, l
  end
  redis.call('SREM', 'pwgrid:draining:' .. B, wid)
  if not f[3] or f[3] == '' then  -- no endpoint: never selectable
    redis.call('ZREM', 'pwgrid:idx:' .. B, wid)
    return 'dead', a, l
  end
  redis.call('ZADD', 'pwgrid:idx:' .. B, fmt(score(a, l)), wid)
  return 'available', a, l
end
-- refresh() for a worker id of any form (non-worker ids are left alone).
local function refresh_id(wid)
  local B = browser_of(wid)
  if B then refresh(wid, B) end
end
-- After a counter change: moves an indexed worker to its new place (XX: never adds one).
local function rescore(wid)
  local B = browser_of(wid)
  if not B then return end
  local a = num(ACTIVE, wid)
  if a == nil then return end
  redis.call('ZADD', 'pwgrid:idx:' .. B, 'XX', fmt(score(a, num(LIFETIME, wid) or 0)), wid)
end
-- Removes a worker's counter entries and index entries.
local function forget(wid)
  if redis.call('HDEL', ACTIVE, wid) == 1 then redis.call('DECR', INDEXED) end
  redis.call('HDEL', LIFETIME, wid)
  redis.call('HDEL', UNREACHABLE, wid)
  local B = browser_of(wid)
  if B then unindex(wid, B) end
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Decrements a counter that exists and is positive: never below 0, never re-creates an entry of
-- a reaped worker.
local function decr(hash, wid)
  local v = tonumber(redis.call('HGET', hash, wid))
  if v ~= nil and v > 0 then redis.call('HINCRBY', hash, wid, -1) end
end
-- Removes up to `limit` expired leases and gives their slots back. Returns how many.
local function sweep(now, limit)
  local expired = redis.call('ZRANGEBYSCORE', LEASES, '-inf', now, 'LIMIT', 0, limit)
  for _, m in ipairs(expired) do
    if redis.call('ZREM', LEASES, m) == 1 then
      local wid = string.match(m, '^(.*)|')
      if wid then
        decr(ACTIVE, wid)
        rescore(wid)
      end
    end
  end
  return #expired
end
)lua";

// ARGV = {C, L, browser, leaseId, leaseTtlMs, checkIndex (0|1)}. Upstream's rule (reference §4.1)
// with deterministic ties (higher lifetime, lower active, smaller id) and pwgrid's recycle stagger
// (selection_policy.h), plus: a worker hash without an endpoint is not eligible, and the
// reservation's lease is written in the same step. Returns -1 (nothing reserved) when checkIndex
// is 1 and the index has not seen every entry of the active hash: re-index, then call again.
//
// Cost: the best eligible worker of a lifetime level is the level's first index entry (fewest
// active) unless that one is full, and then the whole level is full. So the script visits one
// entry per lifetime level that is full, plus one per stale entry it repairs: O(levels · log N),
// levels <= L, instead of upstream's O(N).
inline const char kLuaSelect[] = R"lua(
local C = tonumber(ARGV[1])
local L = tonumber(ARGV[2])
local B = ARGV[3]
if B ~= 'chromium' and B ~= 'firefox' and B ~= 'webkit' then return false end
if ARGV[6] == '1' and tonumber(redis.call('GET', INDEXED) or '0') ~= redis.call('HLEN', ACTIVE) then
  return -1
end
local now = now_ms()
if sweep(now, 100) > 0 then redis.call('PUBLISH', 'pwgrid:capacity', '') end
local IDX = 'pwgrid:idx:' .. B
local n = redis.call('SCARD', 'pwgrid:known:' .. B)
if n == 0 then return false end
local margin = math.max(1, math.floor(L / n))
local budget = 100000  -- visits; only a badly stale index comes near it

-- The recycle stagger: is a worker of B alive and draining, or alive at its lifetime limit?
local recycling = false
for _, wid in ipairs(redis.call('SMEMBERS', 'pwgrid:draining:' .. B)) do
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
local f = redis.call('HMGET', 'worker:' .. sel, 'id', 'endpoint', 'status', 'startedAt',
                     'playwrightVersion')
for i = 1, 5 do if not f[i] then f[i] = '' end end
return {sel, a, l, f[1], f[2], f[3], f[4], f[5]}
)lua";

// ARGV = {workerId...}. Re-indexes these workers from the authoritative hashes (ids of any form:
// non-worker entries are skipped). ARGV[1] = '1' in the last batch of a full pass: the index has
// now seen every active entry. Returns how many ids were looked at.
inline const char kLuaIndex[] = R"lua(
for i = 2, #ARGV do refresh_id(ARGV[i]) end
if ARGV[1] == '1' then redis.call('SET', INDEXED, redis.call('HLEN', ACTIVE)) end
return #ARGV - 1
)lua";

// ARGV = {workerId, leaseId, rollbackLifetime (0|1)}. Returns 1 when the lease was live.
inline const char kLuaRelease[] = R"lua(
if redis.call('ZREM', LEASES, ARGV[1] .. '|' .. ARGV[2]) == 0 then return 0 end
decr(ACTIVE, ARGV[1])
if ARGV[3] == '1' then decr(LIFETIME, ARGV[1]) end
rescore(ARGV[1])
redis.call('PUBLISH', 'pwgrid:capacity', ARGV[1])
return 1
)lua";

// ARGV = {leaseTtlMs, afterReconnect (0|1), workerId1, leaseId1, workerId2, leaseId2, ...}.
// Extends live leases. A lease Redis no longer has (a restart lost it, or it expired while this
// proxy was stalled) is written again and counted again, as long as its worker still has an
// active entry; right after a reconnect (afterReconnect = 1: Redis may have lost everything) the
// entry is created too, so that the worker, when it registers again, counts its live sessions.
// Returns how many were restored.
inline const char kLuaRenew[] = R"lua(
local now = now_ms()
local expiry = now + tonumber(ARGV[1])
local restored = 0
for i = 3, #ARGV, 2 do
  local wid = ARGV[i]
  local m = wid .. '|' .. ARGV[i + 1]
  if redis.call('ZSCORE', LEASES, m) then
    redis.call('ZADD', LEASES, expiry, m)
  else
    if ARGV[2] == '1' and redis.call('HSETNX', ACTIVE, wid, 0) == 1 then
      redis.call('INCR', INDEXED)
      redis.call('HSETNX', LIFETIME, wid, 0)
    end
    if redis.call('HEXISTS', ACTIVE, wid) == 1 then
      redis.call('ZADD', LEASES, expiry, m)
      redis.call('HINCRBY', ACTIVE, wid, 1)
      rescore(wid)
      restored = restored + 1
    end
  end
end
return restored
)lua";

// ARGV = {limit}. Collects expired leases. Returns how many slots were freed.
inline const char kLuaSweep[] = R"lua(
local freed = sweep(now_ms(), tonumber(ARGV[1]))
if freed > 0 then redis.call('PUBLISH', 'pwgrid:capacity', '') end
return freed
)lua";

// Upstream's reaper, extended to the active hash's keys too (upstream defect I2): removes the
// counter entries of every worker whose key is gone. Returns the reaped worker ids.
inline const char kLuaReap[] = R"lua(
local seen = {}
local reaped = {}
for _, hash in ipairs({LIFETIME, ACTIVE}) do
  for _, wid in ipairs(redis.call('HKEYS', hash)) do
    if not seen[wid] then
      seen[wid] = true
      if redis.call('EXISTS', 'worker:' .. wid) == 0 then
        forget(wid)
        reaped[#reaped + 1] = wid
      end
    end
  end
end
return reaped
)lua";

// ARGV = {workerId, uuid, browserType, endpoint, status, startedAt, ttlMs, playwrightVersion}.
// Upstream's registration (HSETNX of both counters, HSET of the six fields, EXPIRE) as one atomic
// step, so no partial or persistent key can be left behind (upstream defects 178d362, I4).
inline const char kLuaRegister[] = R"lua(
local key = 'worker:' .. ARGV[1]
if redis.call('HSETNX', ACTIVE, ARGV[1], 0) == 1 then redis.call('INCR', INDEXED) end
redis.call('HSETNX', LIFETIME, ARGV[1], 0)
redis.call('HSET', key, 'id', ARGV[2], 'browserType', ARGV[3], 'endpoint', ARGV[4],
           'status', ARGV[5], 'startedAt', ARGV[6], 'lastHeartbeat', now_ms())
if ARGV[8] ~= '' then redis.call('HSET', key, 'playwrightVersion', ARGV[8]) end
redis.call('PEXPIRE', key, ARGV[7])
refresh_id(ARGV[1])
if ARGV[5] == 'available' then redis.call('PUBLISH', 'pwgrid:capacity', ARGV[1]) end
return 1
)lua";

// ARGV = {workerId, ttlMs}. 0 when the key is gone (the worker must register again). A worker
// marked unreachable is selectable again (and proxies waiting for capacity are woken).
inline const char kLuaHeartbeat[] = R"lua(
local key = 'worker:' .. ARGV[1]
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HSET', key, 'lastHeartbeat', now_ms())
redis.call('PEXPIRE', key, ARGV[2])
if redis.call('HEXISTS', UNREACHABLE, ARGV[1]) == 1 then
  refresh_id(ARGV[1])
  redis.call('PUBLISH', 'pwgrid:capacity', ARGV[1])
end
return 1
)lua";

// ARGV = {workerId}. Marks a worker unreachable until its next heartbeat (its current
// lastHeartbeat is recorded; see UNREACHABLE). Returns 1 when the worker is known.
inline const char kLuaMarkUnreachable[] = R"lua(
local hb = redis.call('HGET', 'worker:' .. ARGV[1], 'lastHeartbeat')
if not hb then return 0 end
redis.call('HSET', UNREACHABLE, ARGV[1], hb)
refresh_id(ARGV[1])
return 1
)lua";

// ARGV = {workerId, status}. 0 when the key is gone. shutting-down also sets a 10 s TTL, as
// upstream's graceful shutdown does.
inline const char kLuaSetStatus[] = R"lua(
local key = 'worker:' .. ARGV[1]
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HSET', key, 'status', ARGV[2])
if ARGV[2] == 'shutting-down' then redis.call('EXPIRE', key, 10) end
refresh_id(ARGV[1])
if ARGV[2] == 'available' then redis.call('PUBLISH', 'pwgrid:capacity', ARGV[1]) end
return 1
)lua";

// ARGV = {workerId}. Deletes the worker's key and, unlike upstream's worker, its counter entries
// too: a gone worker must not keep shrinking the selection margin until the reaper runs
// (upstream defect I1).
inline const char kLuaDeregister[] = R"lua(
redis.call('DEL', 'worker:' .. ARGV[1])
forget(ARGV[1])
return 1
)lua";

// ARGV = {workerId}. Takes a pending `shutdown` command once (other values are left alone).
inline const char kLuaTakeCommand[] = R"lua(
local key = 'worker:cmd:' .. ARGV[1]
if redis.call('GET', key) == 'shutdown' then
  redis.call('DEL', key)
  return 1
end
return 0
)lua";

inline std::string WithPrelude(const char* body) { return std::string(kLuaPrelude) + body; }

}  // namespace pwgrid::internal

#endif  // PWGRID_LIB_REDIS_SCRIPTS_H_
