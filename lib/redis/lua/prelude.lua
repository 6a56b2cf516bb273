-- Helpers shared by every script (prepended to each, after the key names that keys.h
-- generates): score(), refresh(), rescore(), forget(), now_ms(), decr(), sweep().
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
  redis.call('SREM', KNOWN_PREFIX .. B, wid)
  redis.call('ZREM', INDEX_PREFIX .. B, wid)
  redis.call('SREM', DRAINING_PREFIX .. B, wid)
end
-- Re-reads one worker and puts it where it belongs in B's index. Returns the worker's state:
-- 'gone' (no active entry), 'dead', 'unavailable' or 'available', and its active and lifetime.
local function refresh(wid, B)
  local a = num(ACTIVE, wid)
  if a == nil then
    unindex(wid, B)
    return 'gone'
  end
  redis.call('SADD', KNOWN_PREFIX .. B, wid)
  local l = num(LIFETIME, wid) or 0
  local key = WORKER_PREFIX .. wid
  local f = redis.call('HMGET', key, 'status', 'browserType', 'endpoint', 'lastHeartbeat')
  local mark = redis.call('HGET', UNREACHABLE, wid)
  if mark and mark ~= f[4] then  -- it heartbeat since it was marked
    redis.call('HDEL', UNREACHABLE, wid)
    mark = nil
  end
  if redis.call('PTTL', key) <= 0 or f[2] ~= B or mark then
    redis.call('ZREM', INDEX_PREFIX .. B, wid)
    redis.call('SREM', DRAINING_PREFIX .. B, wid)
    return 'dead', a, l
  end
  if f[1] ~= 'available' then
    redis.call('ZREM', INDEX_PREFIX .. B, wid)
    redis.call('SADD', DRAINING_PREFIX .. B, wid)
    return 'unavailable', a, l
  end
  redis.call('SREM', DRAINING_PREFIX .. B, wid)
  if not f[3] or f[3] == '' then  -- no endpoint: never selectable
    redis.call('ZREM', INDEX_PREFIX .. B, wid)
    return 'dead', a, l
  end
  redis.call('ZADD', INDEX_PREFIX .. B, fmt(score(a, l)), wid)
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
  redis.call('ZADD', INDEX_PREFIX .. B, 'XX', fmt(score(a, num(LIFETIME, wid) or 0)), wid)
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
