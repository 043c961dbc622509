-- settle: ARGV now, ttl, id, µUSD, tokens actually used, 4 x (period id, µs
-- to keep) of the current periods. Replaces the hold of id by the charge in
-- the hold's periods. A hold that expired was charged in full: that charge
-- is corrected to the actual one. With no record at all (forgotten, or the
-- store was unreachable at reserve time and the broker failed open) the
-- provider was paid all the same, so the charge goes to the current
-- periods. Returns 0 settled, 1 settled before (nothing charged), 2 charged
-- without a hold, 3 corrected after expiry.
local now, ttl, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local usd, tok = tonumber(ARGV[4]), tonumber(ARGV[5])

purge(now, ttl, true)
if redis.call('ZSCORE', DONE, id) then return 1 end
local status = 0
local state, hu, ht, tinc, pids, exps = record(id)
if state == 'h' then
  forget(id)
  if ht > 0 and tok < ht then refund(now, math.floor(tinc * (ht - tok) / ht)) end
  hold(pids, 0 - hu, 0 - ht)
  charge(pids, exps, now, usd, tok, 1)
elseif state then
  forget(id)
  status = 3
  charge(pids, exps, now, usd - hu, tok - ht, 0)
else
  status = 2
  pids, exps = current(now)
  charge(pids, exps, now, usd, tok, 1)
end
redis.call('ZADD', DONE, int(now + ttl), id)
return status
