-- Helpers shared by every script (prepended to each, after the key names that keys.h
-- generates): score(), minor_of(), group_of(), refresh(), rescore(), forget(), now_ms(), decr(),
-- sweep(); selection:
-- choose(), reserve(), tenant_full(); the grid-wide queue: enqueue(), drop_ticket(),
-- expire_tickets(), queue_head(), dispatch(), dispatch_all().
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
-- The normalized major.minor of a Playwright version ('1.65.1' -> '1.65'), '' for an unknown
-- one: as PlaywrightMinor() of types.h.
local function minor_of(v)
  if not v then return '' end
  local a, b, rest = string.match(v, '^(%d+)%.(%d+)(.*)$')
  if not a or #a > 9 or #b > 9 then return '' end
  if rest ~= '' and not string.match(rest, '^[%.%-]') then return '' end
  return string.format('%d.%d', tonumber(a), tonumber(b))
end
-- A worker group: browser B and major.minor m ('' for workers without a version): 'B' or 'B@m'.
local function group_of(B, m)
  if m == '' then return B end
  return B .. '@' .. m
end
-- Takes a worker out of group G's index keys; G leaves B's group list when it has no worker.
local function unindex(wid, G)
  redis.call('ZREM', INDEX_PREFIX .. G, wid)
  redis.call('SREM', DRAINING_PREFIX .. G, wid)
  if redis.call('SREM', KNOWN_PREFIX .. G, wid) == 1 and
      redis.call('SCARD', KNOWN_PREFIX .. G) == 0 then
    redis.call('SREM', GROUPS_PREFIX .. string.match(G, '^%a+'), G)
  end
end
-- Takes a worker out of the group it is indexed in.
local function unindex_all(wid, B)
  local G = redis.call('HGET', WORKER_GROUP, wid) or B
  unindex(wid, G)
  redis.call('HDEL', WORKER_GROUP, wid)
end
-- Re-reads one worker and puts it where it belongs in the index of its group (its browser type
-- B and Playwright version; a worker whose key is gone stays in the group it was in). Returns
-- the worker's state: 'gone' (no active entry), 'dead', 'unavailable' or 'available', its active
-- and lifetime counts and its group.
local function refresh(wid, B)
  local a = num(ACTIVE, wid)
  if a == nil then
    unindex_all(wid, B)
    return 'gone'
  end
  local l = num(LIFETIME, wid) or 0
  local key = WORKER_PREFIX .. wid
  local f = redis.call('HMGET', key, 'status', 'browserType', 'endpoint', 'lastHeartbeat',
                       'playwrightVersion')
  local pttl = redis.call('PTTL', key)
  local old = redis.call('HGET', WORKER_GROUP, wid)
  local G = old or B
  if pttl ~= -2 then G = group_of(B, minor_of(f[5])) end
  if old ~= G then
    if old then unindex(wid, old) end
    redis.call('HSET', WORKER_GROUP, wid, G)
  end
  redis.call('SADD', KNOWN_PREFIX .. G, wid)
  redis.call('SADD', GROUPS_PREFIX .. B, G)
  local mark = redis.call('HGET', UNREACHABLE, wid)
  if mark and mark ~= f[4] then  -- it heartbeat since it was marked
    redis.call('HDEL', UNREACHABLE, wid)
    mark = nil
  end
  if pttl <= 0 or f[2] ~= B or mark then
    redis.call('ZREM', INDEX_PREFIX .. G, wid)
    redis.call('SREM', DRAINING_PREFIX .. G, wid)
    return 'dead', a, l, G
  end
  if f[1] ~= 'available' then
    redis.call('ZREM', INDEX_PREFIX .. G, wid)
    redis.call('SADD', DRAINING_PREFIX .. G, wid)
    return 'unavailable', a, l, G
  end
  redis.call('SREM', DRAINING_PREFIX .. G, wid)
  if not f[3] or f[3] == '' then  -- no endpoint: never selectable
    redis.call('ZREM', INDEX_PREFIX .. G, wid)
    return 'dead', a, l, G
  end
  redis.call('ZADD', INDEX_PREFIX .. G, fmt(score(a, l)), wid)
  return 'available', a, l, G
end
-- refresh() of an entry found in group G's keys: an entry that belongs to another group (its
-- worker re-registered with another version) leaves G's keys.
local function refresh_in(wid, B, G)
  local state, a, l, wg = refresh(wid, B)
  if wg and wg ~= G then unindex(wid, G) end
  return state, a, l, wg
end
-- refresh() for a worker id of any form (non-worker ids are left alone).
local function refresh_id(wid)
  local B = browser_of(wid)
  if B then refresh(wid, B) end
end
-- After a counter change: moves an indexed worker to its new place (XX: never adds one).
local function rescore(wid)
  local G = redis.call('HGET', WORKER_GROUP, wid)
  if not G then return end
  local a = num(ACTIVE, wid)
  if a == nil then return end
  redis.call('ZADD', INDEX_PREFIX .. G, 'XX', fmt(score(a, num(LIFETIME, wid) or 0)), wid)
end
-- Removes a worker's counter entries and index entries.
local function forget(wid)
  if redis.call('HDEL', ACTIVE, wid) == 1 then redis.call('DECR', INDEXED) end
  redis.call('HDEL', LIFETIME, wid)
  redis.call('HDEL', UNREACHABLE, wid)
  local B = browser_of(wid)
  if B then unindex_all(wid, B) end
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
      local wid, lease = string.match(m, '^(.*)|(.*)$')
      if lease then redis.call('HDEL', SESSIONS, lease) end
      if wid then
        decr(ACTIVE, wid)
        rescore(wid)
      end
    end
  end
  return #expired
end

-- Upstream's selection rule (reference §4.1) with deterministic ties (higher lifetime, lower
-- active, smaller id) and pwgrid's recycle stagger (selection_policy.h), plus: a worker hash
-- without an endpoint is not eligible. The rule applies within the client's group: the workers
-- of browser B whose version's major.minor is m or unknown; for m = '' (a client of unknown
-- version), every worker of B. Returns the chosen worker, or nil.
--
-- Cost: the best eligible worker of a lifetime level in one group's index is the level's first
-- entry (fewest active) unless that one is full, and then the whole level is full. So it visits,
-- per index, one entry per lifetime level that is full, plus one per stale entry it repairs:
-- O(k · levels · log N) for k indexes (2 for a client of known version: its version's and the
-- workers without one; every version of B for a client of unknown version), levels <= L, instead
-- of upstream's O(N).
local function choose(B, m, C, L)
  local groups
  if m == '' then
    groups = redis.call('SMEMBERS', GROUPS_PREFIX .. B)
  else
    groups = {B, group_of(B, m)}
  end
  local n = 0
  for _, G in ipairs(groups) do n = n + redis.call('SCARD', KNOWN_PREFIX .. G) end
  if n == 0 then return nil end
  local margin = math.max(1, math.floor(L / n))
  local budget = 100000  -- visits; only a badly stale index comes near it
  -- The recycle stagger: is a worker of the group alive and draining, or alive at its lifetime
  -- limit?
  local recycling = false
  for _, G in ipairs(groups) do
    for _, wid in ipairs(redis.call('SMEMBERS', DRAINING_PREFIX .. G)) do
      local state, _, _, wg = refresh_in(wid, B, G)
      if state == 'unavailable' and wg == G then
        recycling = true
        break
      end
    end
    while not recycling and budget > 0 do
      budget = budget - 1
      local e = redis.call('ZRANGEBYSCORE', INDEX_PREFIX .. G, '-inf', '(' .. fmt(-(L - 1) * M),
                           'WITHSCORES', 'LIMIT', 0, 1)
      if #e == 0 then break end
      local state, a, l, wg = refresh_in(e[1], B, G)
      if wg == G and (state == 'unavailable' or (state == 'available' and l >= L)) then
        recycling = true
      end
    end
    if recycling then break end
  end
  -- The best eligible worker of group G's index with lifetime <= maxl: its id and score, or nil.
  local function best_in(G, maxl)
    local IDX = INDEX_PREFIX .. G
    local lo = -maxl * M
    while budget > 0 do
      budget = budget - 1
      local e = redis.call('ZRANGEBYSCORE', IDX, fmt(lo), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
      if #e == 0 then return nil end
      local wid = e[1]
      local state, a, l, wg = refresh_in(wid, B, G)
      if state == 'unavailable' then recycling = true end
      if state == 'available' and wg == G and score(a, l) == tonumber(e[2]) then
        if recycling and l == L - 1 then
          lo = -(l - 1) * M           -- the stagger: skip this level
        elseif a < C then
          return wid, score(a, l)
        else
          lo = -(l - 1) * M           -- the level's fewest-active worker is full: so is the level
        end
      end
    end
    return nil
  end
  -- The best over every group's index (lower score, then smaller id), or nil. A recycle found
  -- on the way (a stale index entry) reruns it once under the stagger.
  local function best(maxl)
    for _ = 1, 2 do
      local was = recycling
      local wid, sc = nil, nil
      for _, G in ipairs(groups) do
        local w, x = best_in(G, maxl)
        if w and (not wid or x < sc or (x == sc and w < wid)) then wid, sc = w, x end
      end
      if recycling == was then return wid end
    end
    return nil
  end
  return best(L - margin - 1) or best(L - 1)
end
-- Reserves a slot on worker `sel`: the counters, the index, the lease `sel|leaseId` (and
-- tenant T's entry, when T is not '') expiring at now + ttl. Returns the reservation reply:
-- {workerId, active, lifetime, id, endpoint, status, startedAt, playwrightVersion}.
local function reserve(sel, lease_id, ttl, now, T)
  local m = sel .. '|' .. lease_id
  local a = redis.call('HINCRBY', ACTIVE, sel, 1)
  local l = redis.call('HINCRBY', LIFETIME, sel, 1)
  local G = redis.call('HGET', WORKER_GROUP, sel)
  if G then redis.call('ZADD', INDEX_PREFIX .. G, 'XX', fmt(score(a, l)), sel) end
  redis.call('ZADD', LEASES, now + ttl, m)
  if T ~= '' then
    redis.call('ZADD', TENANT_PREFIX .. T, now + ttl, m)
    redis.call('PEXPIRE', TENANT_PREFIX .. T, ttl)
  end
  local f = redis.call('HMGET', WORKER_PREFIX .. sel, 'id', 'endpoint', 'status', 'startedAt',
                       'playwrightVersion')
  for i = 1, 5 do if not f[i] then f[i] = '' end end
  return {sel, a, l, f[1], f[2], f[3], f[4], f[5]}
end
-- Does tenant T (not '') hold its quota tmax (> 0) of live leases on every proxy together?
local function tenant_full(T, tmax, now)
  if T == '' then return false end
  redis.call('ZREMRANGEBYSCORE', TENANT_PREFIX .. T, '-inf', now)
  return tmax > 0 and redis.call('ZCARD', TENANT_PREFIX .. T) >= tmax
end

-- The grid-wide queue (keys.h; the rule: queue_policy.h). A group G is a browser type and the
-- clients' Playwright major.minor: group_of(B, m), 'B' for clients of unknown version.
local function qkey(G) return QUEUE_PREFIX .. G end
local function tkey(G, T) return QUEUE_PREFIX .. G .. ':t:' .. T end
-- A ticket's record: group, deadline (ms), tenant quota, arrival (ms), C, L and lease TTL (ms)
-- of its proxy, tenant; nil when unknown.
local function ticket_info(t)
  local v = redis.call('HGET', TICKETS, t)
  if not v then return nil end
  local G, d, tmax, arr, C, L, ttl, T =
      string.match(v, '^(%S+) (%d+) (%d+) (%d+) (%d+) (%d+) (%d+) (.*)$')
  if not G then return nil end
  return G, tonumber(d), tonumber(tmax), tonumber(arr), tonumber(C), tonumber(L), tonumber(ttl), T
end
-- Puts ticket t of tenant T (quota tmax) at the back of G's queue, until `deadline` (ms) and
-- for at most one ttl unless renewed. It is served under its own proxy's limits C and L, and its
-- lease gets that proxy's ttl (which renews it).
local function enqueue(t, G, T, tmax, deadline, C, L, ttl, now)
  local seq = redis.call('INCR', QUEUE_SEQ)
  redis.call('HSET', TICKETS, t, table.concat({G, fmt(deadline), fmt(tmax), fmt(now), fmt(C),
                                               fmt(L), fmt(ttl), T}, ' '))
  redis.call('ZADD', TICKET_EXPIRY, fmt(math.min(deadline, now + ttl)), t)
  redis.call('ZADD', qkey(G), seq, t)
  redis.call('ZADD', tkey(G, T), seq, t)
  redis.call('ZADD', qkey(G) .. ':tenants', 0, T)
  redis.call('SADD', QUEUE_GROUPS, G)
end
-- Takes ticket t out of the queue.
local function drop_ticket(t)
  local G, _, _, _, _, _, _, T = ticket_info(t)
  redis.call('HDEL', TICKETS, t)
  redis.call('ZREM', TICKET_EXPIRY, t)
  if not G then return end
  redis.call('ZREM', qkey(G), t)
  redis.call('ZREM', tkey(G, T), t)
  if redis.call('EXISTS', tkey(G, T)) == 0 then redis.call('ZREM', qkey(G) .. ':tenants', T) end
  if redis.call('EXISTS', qkey(G)) == 0 then redis.call('SREM', QUEUE_GROUPS, G) end
end
-- Drops up to 100 tickets whose deadline passed or whose proxy stopped renewing them.
local function expire_tickets(now)
  local gone = redis.call('ZRANGEBYSCORE', TICKET_EXPIRY, '-inf', now, 'LIMIT', 0, 100)
  for _, t in ipairs(gone) do drop_ticket(t) end
  return #gone
end
-- The queue rule: G's next ticket and its tenant, or nil. Tenants take turns in name order after
-- the one served last (wrapping around), skipping tenants at their quota; each tenant's earliest
-- ticket comes first.
local function queue_head(G, now)
  local tenants = qkey(G) .. ':tenants'
  local last = redis.call('GET', qkey(G) .. ':last') or ''
  local function first_of(list)
    for _, T in ipairs(list) do
      local h = redis.call('ZRANGE', tkey(G, T), 0, 0)[1]
      if h then
        local _, _, tmax = ticket_info(h)
        if not tenant_full(T, tmax or 0, now) then return h, T end
      end
    end
    return nil
  end
  local h, T = first_of(redis.call('ZRANGEBYLEX', tenants, '(' .. last, '+'))
  if not h then h, T = first_of(redis.call('ZRANGEBYLEX', tenants, '-', '[' .. last)) end
  return h, T
end
-- Serves G's queue while a slot is free: the head ticket gets the reservation (under its own
-- proxy's limits) and leaves the queue; its proxy finds it in its grants hash and is told on its
-- grant channel, except for ticket `mine` (the caller's own), whose reply is returned. Returns
-- that reply (or nil) and how many tickets were served. The head waits for a slot that fits it:
-- nobody behind it is served first.
local function dispatch(G, now, mine)
  local out, served = nil, 0
  local B, m = string.match(G, '^(%a+)@?(.*)$')
  for _ = 1, 1000 do
    local h, T = queue_head(G, now)
    if not h then break end
    local _, _, _, _, C, L, ttl = ticket_info(h)
    local sel = choose(B, m, C, L)
    if not sel then break end
    local r = reserve(sel, h, ttl, now, T)
    redis.call('SET', qkey(G) .. ':last', T)
    drop_ticket(h)
    served = served + 1
    if h == mine then
      out = r
    else
      local owner = string.match(h, '^(.-)%-') or ''
      local gk = GRANTS_PREFIX .. owner
      redis.call('HSET', gk, h, table.concat({r[1], fmt(r[2]), fmt(r[3]), r[4], r[5], r[6], r[7],
                                              r[8], T}, '\n'))
      redis.call('PEXPIRE', gk, ttl)
      redis.call('PUBLISH', GRANT_CHANNEL_PREFIX .. owner, h)
    end
  end
  return out, served
end
-- dispatch() for every group with waiting clients (after dropping expired tickets). Returns how
-- many tickets were served.
local function dispatch_all(now)
  if redis.call('EXISTS', TICKET_EXPIRY) == 0 then return 0 end
  expire_tickets(now)
  local served = 0
  for _, G in ipairs(redis.call('SMEMBERS', QUEUE_GROUPS)) do
    if redis.call('EXISTS', qkey(G)) == 1 then
      local _, n = dispatch(G, now, nil)
      served = served + n
    else
      redis.call('SREM', QUEUE_GROUPS, G)
    end
  end
  return served
end
