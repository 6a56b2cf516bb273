-- Upstream's reaper, extended to the active hash's keys too (upstream defect I2): removes the
-- counter entries of every worker whose key is gone. Returns the reaped worker ids.
local seen = {}
local reaped = {}
for _, hash in ipairs({LIFETIME, ACTIVE}) do
  for _, wid in ipairs(redis.call('HKEYS', hash)) do
    if not seen[wid] then
      seen[wid] = true
      if redis.call('EXISTS', WORKER_PREFIX .. wid) == 0 then
        forget(wid)
        reaped[#reaped + 1] = wid
      end
    end
  end
end
return reaped
