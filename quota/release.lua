-- release: ARGV now, ttl, id. Drops the hold of id and gives back the
-- tokens-per-minute allowance it took; a hold that expired was charged in
-- full, and that charge is taken back. Returns 0 released, 1 settled or
-- released before, 2 nothing held (unknown or forgotten).
local now, ttl, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]

purge(now, ttl, true)
if redis.call('ZSCORE', DONE, id) then return 1 end
local state, usd, tok, tinc, pids, exps = record(id)
if not state then return 2 end
forget(id)
if state == 'h' then
  hold(pids, 0 - usd, 0 - tok)
  refund(now, tinc)
else
  charge(pids, exps, now, 0 - usd, 0 - tok, -1)
end
redis.call('ZADD', DONE, int(now + ttl), id)
return 0
