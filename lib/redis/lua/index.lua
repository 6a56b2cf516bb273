-- ARGV = {workerId...}. Re-indexes these workers from the authoritative hashes (ids of any form:
-- non-worker entries are skipped). ARGV[1] = '1' in the last batch of a full pass: the index has
-- now seen every active entry. Returns how many ids were looked at.
for i = 2, #ARGV do refresh_id(ARGV[i]) end
if ARGV[1] == '1' then redis.call('SET', INDEXED, redis.call('HLEN', ACTIVE)) end
return #ARGV - 1
