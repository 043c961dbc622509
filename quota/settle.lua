-- settle: ARGV now, ttl, id, µUSD, tokens actually used, 4 x (period id, µs
-- to keep) of the current periods. Replaces the hold of id by the charge in
-- the hold's periods; if the hold is gone (expired) the provider was paid
-- all the same, so the charge goes to the current periods. Returns 0
-- settled, 1 settled before (nothing charged), 2 charged without a hold.
local now, ttl, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local usd, tok = tonumber(ARGV[4]), tonumber(ARGV[5])

purge(now)
if redis.call('ZSCORE', DONE, id) then return 1 end
local status, hu, ht, tinc, keys = 0, hold(id)
if hu then
  if ht > 0 and tok < ht then refund(now, math.floor(tinc * (ht - tok) / ht)) end
else
  status, hu, ht, keys = 2, 0, 0, {}
  for i = 1, 4 do keys[i] = pkey(ARGV[4 + 2 * i]) end
end
-- One read and one write per period, rather than five increments.
for _, k in ipairs(keys) do
  local c = redis.call('HMGET', k, 'su', 'st', 'hu', 'ht', 'n')
  redis.call('HSET', k, 'su', int(num(c[1]) + usd), 'st', int(num(c[2]) + tok),
    'hu', int(num(c[3]) - hu), 'ht', int(num(c[4]) - ht), 'n', int(num(c[5]) + 1))
end
if status == 2 then
  for i = 1, 4 do touch(i) end
end
redis.call('ZADD', DONE, int(now + ttl), id)
return status
