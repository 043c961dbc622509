-- release: ARGV now, ttl, id. Drops the hold of id and gives back the
-- tokens-per-minute allowance it took. Returns 0 released, 1 settled or
-- released before, 2 nothing held (expired or unknown).
local now, ttl, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]

purge(now)
if redis.call('ZSCORE', DONE, id) then return 1 end
local usd, _, tinc = unhold(id)
if not usd then return 2 end
refund(now, tinc)
redis.call('ZADD', DONE, int(now + ttl), id)
return 0
