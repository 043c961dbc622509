-- usage: ARGV now, ttl, then period ids. Purges expired holds, then returns
-- the counters of each period: {su, st, hu, ht, n}, nil where never counted.
purge(tonumber(ARGV[1]), tonumber(ARGV[2]), true)
local out = {}
for i = 3, #ARGV do
  out[#out + 1] = redis.call('HMGET', pkey(ARGV[i]), 'su', 'st', 'hu', 'ht', 'n')
end
return out
