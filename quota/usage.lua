-- usage: ARGV now, then period ids. Purges expired holds, then returns the
-- counters of each period: {su, st, hu, ht, n}, nil where never counted.
purge(tonumber(ARGV[1]))
local out = {}
for i = 2, #ARGV do
  out[#out + 1] = redis.call('HMGET', pkey(ARGV[i]), 'su', 'st', 'hu', 'ht', 'n')
end
return out
