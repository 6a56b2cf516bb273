// The Lua scripts of the Redis registry. Internal to libpwgrid.
//
// Every script takes no KEYS and names upstream's keys itself, as upstream's selector does (so
// none of them is Redis Cluster safe; neither is upstream). Times are Redis TIME in Unix ms, so
// all proxies share one clock.
#ifndef PWGRID_LIB_REDIS_SCRIPTS_H_
#define PWGRID_LIB_REDIS_SCRIPTS_H_

#include <string>

namespace pwgrid::internal {

// Helpers shared by the scripts: now_ms(), decr(hash, wid), sweep(now, limit).
inline const char kLuaPrelude[] = R"lua(
local ACTIVE = 'cluster:active_connections'
local LIFETIME = 'cluster:lifetime_connections'
local LEASES = 'pwgrid:leases'
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
      if wid then decr(ACTIVE, wid) end
    end
  end
  return #expired
end
)lua";

// ARGV = {C, L, browser, leaseId, leaseTtlMs}. Upstream's rule (reference §4.1) with
// deterministic ties (higher lifetime, lower active, smaller id) and pwgrid's recycle stagger
// (selection_policy.h), plus: a worker hash without an endpoint is not eligible, and the
// reservation's lease is written in the same step.
inline const char kLuaSelect[] = R"lua(
local C = tonumber(ARGV[1])
local L = tonumber(ARGV[2])
local B = ARGV[3]
if B ~= 'chromium' and B ~= 'firefox' and B ~= 'webkit' then return false end
local now = now_ms()
if sweep(now, 100) > 0 then redis.call('PUBLISH', 'pwgrid:capacity', '') end
local prefix = B .. ':'
local function load(hash)
  local flat = redis.call('HGETALL', hash)
  local m = {}
  for i = 1, #flat, 2 do
    local k = flat[i]
    if string.sub(k, 1, #prefix) == prefix then
      local v = tonumber(flat[i + 1])
      if v ~= nil then m[k] = v end
    end
  end
  return m
end
local active = load(ACTIVE)
local lifetime = load(LIFETIME)
local n = 0
for _ in pairs(active) do n = n + 1 end
if n == 0 then return false end
local margin = math.max(1, math.floor(L / n))
local function better(w, a, l, bw, ba, bl)
  if bw == nil then return true end
  if l ~= bl then return l > bl end
  if a ~= ba then return a < ba end
  return w < bw
end
local candidates = {}
local recycling = false  -- the recycle stagger: see selection_policy.h
for wid, a in pairs(active) do
  local l = lifetime[wid] or 0
  local key = 'worker:' .. wid
  if redis.call('PTTL', key) > 0 then
    local f = redis.call('HMGET', key, 'status', 'browserType', 'endpoint')
    if f[2] == B then
      if f[1] ~= 'available' or l >= L then recycling = true end
      if f[1] == 'available' and a < C and l < L and f[3] and f[3] ~= '' then
        candidates[#candidates + 1] = {wid, a, l}
      end
    end
  end
end
local pw, pa, pl, fw, fa, fl
for _, c in ipairs(candidates) do
  local wid, a, l = c[1], c[2], c[3]
  if not (recycling and l == L - 1) then
    if l < L - margin and better(wid, a, l, pw, pa, pl) then pw, pa, pl = wid, a, l end
    if better(wid, a, l, fw, fa, fl) then fw, fa, fl = wid, a, l end
  end
end
local sel = pw or fw
if not sel then return false end
local a = redis.call('HINCRBY', ACTIVE, sel, 1)
local l = redis.call('HINCRBY', LIFETIME, sel, 1)
redis.call('ZADD', LEASES, now + tonumber(ARGV[5]), sel .. '|' .. ARGV[4])
local f = redis.call('HMGET', 'worker:' .. sel, 'id', 'endpoint', 'status', 'startedAt',
                     'playwrightVersion')
for i = 1, 5 do if not f[i] then f[i] = '' end end
return {sel, a, l, f[1], f[2], f[3], f[4], f[5]}
)lua";

// ARGV = {workerId, leaseId, rollbackLifetime (0|1)}. Returns 1 when the lease was live.
inline const char kLuaRelease[] = R"lua(
if redis.call('ZREM', LEASES, ARGV[1] .. '|' .. ARGV[2]) == 0 then return 0 end
decr(ACTIVE, ARGV[1])
if ARGV[3] == '1' then decr(LIFETIME, ARGV[1]) end
redis.call('PUBLISH', 'pwgrid:capacity', ARGV[1])
return 1
)lua";

// ARGV = {leaseTtlMs, workerId1, leaseId1, workerId2, leaseId2, ...}. Extends live leases. A lease
// Redis no longer has (a restart lost it, or it expired while this proxy was stalled) is written
// again and counted again, as long as its worker still has an active entry. Returns how many
// were restored.
inline const char kLuaRenew[] = R"lua(
local now = now_ms()
local expiry = now + tonumber(ARGV[1])
local restored = 0
for i = 2, #ARGV, 2 do
  local m = ARGV[i] .. '|' .. ARGV[i + 1]
  if redis.call('ZSCORE', LEASES, m) then
    redis.call('ZADD', LEASES, expiry, m)
  elseif redis.call('HEXISTS', ACTIVE, ARGV[i]) == 1 then
    redis.call('ZADD', LEASES, expiry, m)
    redis.call('HINCRBY', ACTIVE, ARGV[i], 1)
    restored = restored + 1
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
        redis.call('HDEL', ACTIVE, wid)
        redis.call('HDEL', LIFETIME, wid)
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
redis.call('HSETNX', ACTIVE, ARGV[1], 0)
redis.call('HSETNX', LIFETIME, ARGV[1], 0)
redis.call('HSET', key, 'id', ARGV[2], 'browserType', ARGV[3], 'endpoint', ARGV[4],
           'status', ARGV[5], 'startedAt', ARGV[6], 'lastHeartbeat', now_ms())
if ARGV[8] ~= '' then redis.call('HSET', key, 'playwrightVersion', ARGV[8]) end
redis.call('PEXPIRE', key, ARGV[7])
if ARGV[5] == 'available' then redis.call('PUBLISH', 'pwgrid:capacity', ARGV[1]) end
return 1
)lua";

// ARGV = {workerId, ttlMs}. 0 when the key is gone (the worker must register again).
inline const char kLuaHeartbeat[] = R"lua(
local key = 'worker:' .. ARGV[1]
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HSET', key, 'lastHeartbeat', now_ms())
redis.call('PEXPIRE', key, ARGV[2])
return 1
)lua";

// ARGV = {workerId, status}. 0 when the key is gone. shutting-down also sets a 10 s TTL, as
// upstream's graceful shutdown does.
inline const char kLuaSetStatus[] = R"lua(
local key = 'worker:' .. ARGV[1]
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HSET', key, 'status', ARGV[2])
if ARGV[2] == 'shutting-down' then redis.call('EXPIRE', key, 10) end
if ARGV[2] == 'available' then redis.call('PUBLISH', 'pwgrid:capacity', ARGV[1]) end
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
