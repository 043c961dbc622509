-- usage: ARGV now, ttl, then period ids. Purges expired holds, then returns
-- the counters of each period: {su, st, hu, ht, n}, nil where never counted.
purge(tonumber(ARGV[1]), tonumber(ARGV[2]), true)
local out = {}
for i = 3, #ARGV do
  local c = redis.call('HMGET', pkey(ARGV[i]), 'su', 'st', 'n')
  local h = redis.call('HMGET', HELD, ARGV[i] .. ':u', ARGV[i] .. ':t')
  out[#out + 1] = {c[1], c[2], h[1], h[2], c[3]}
end
return out
