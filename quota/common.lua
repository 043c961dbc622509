-- Shared by every script, which it precedes. KEYS[1] is the base of one
-- book's keys, "<prefix>{<tag>}": every key a script touches is the base
-- and a suffix, so they all share the base's hash slot and each script runs
-- on one Redis Cluster node. Times are microseconds from the Go clock.
--
--   <base>:limits      string  JSON broker.ServerLimits overriding the config
--   <base>:holds       zset    request id -> when its hold expires, or, once
--                              expired, when its record is forgotten
--   <base>:hold        hash    request id -> "<state> usd tokens tinc pid1 pid2 pid3 pid4",
--                              state h (held) or x (expired: charged in full)
--   <base>:done        zset    settled or released id -> when it is forgotten
--   <base>:p:<period>  hash    su st (spent µUSD, tokens), hu ht (held), n (requests)
--   <base>:rpm, :tpm   string  GCRA theoretical arrival times
local base = KEYS[1]
local HOLDS, HOLD, DONE, TPM = base .. ':holds', base .. ':hold', base .. ':done', base .. ':tpm'
local MINUTE = 60000000

local function pkey(pid) return base .. ':p:' .. pid end
local function num(v) return tonumber(v) or 0 end
local function int(v) return string.format('%d', v) end
local function ceildiv(a, b) return math.floor((a + b - 1) / b) end

-- record returns the state of id's hold record ('h' or 'x'), its µUSD,
-- tokens, the µs of tokens-per-minute allowance it took and the keys of its
-- periods, then the record itself; nil if there is none. forget drops it.
local function record(id)
  local rec = redis.call('HGET', HOLD, id)
  if not rec then return nil end
  local f = {}
  for w in string.gmatch(rec, '%S+') do f[#f + 1] = w end
  return f[1], tonumber(f[2]), tonumber(f[3]), tonumber(f[4]), {pkey(f[5]), pkey(f[6]), pkey(f[7]), pkey(f[8])}, rec
end
local function forget(id)
  redis.call('ZREM', HOLDS, id)
  redis.call('HDEL', HOLD, id)
end

-- book adds to the counters of each period key: spent µUSD and tokens, held
-- µUSD and tokens taken off, requests. One read and one write per period.
local function book(keys, usd, tok, hu, ht, n)
  for _, k in ipairs(keys) do
    local c = redis.call('HMGET', k, 'su', 'st', 'hu', 'ht', 'n')
    redis.call('HSET', k, 'su', int(num(c[1]) + usd), 'st', int(num(c[2]) + tok),
      'hu', int(num(c[3]) - hu), 'ht', int(num(c[4]) - ht), 'n', int(num(c[5]) + n))
  end
end

-- purge charges holds expired at now in full (the broker that held them
-- may have paid the provider and died) and keeps their record for a late
-- settlement until now+ttl; then forgets the record and remembers the id as
-- settled. With done set, it also forgets settled ids past their replay
-- window (reserve skips that: a settled id kept a little longer costs
-- nothing, and reserve is on the request's path).
local function purge(now, ttl, done)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', HOLDS, '-inf', now)) do
    local state, usd, tok, _, keys, rec = record(id)
    if state == 'h' then
      book(keys, usd, tok, usd, tok, 1)
      redis.call('HSET', HOLD, id, 'x' .. string.sub(rec, 2))
      redis.call('ZADD', HOLDS, int(now + ttl), id)
    else
      forget(id)
      if state then redis.call('ZADD', DONE, int(now + ttl), id) end
    end
  end
  if done then redis.call('ZREMRANGEBYSCORE', DONE, '-inf', now) end
end

-- refund gives back part of the tokens-per-minute allowance a hold took.
local function refund(now, amount)
  local tat = tonumber(redis.call('GET', TPM))
  if amount <= 0 or not tat or tat <= now then return end
  tat = math.max(now, tat - amount)
  redis.call('SET', TPM, int(tat), 'PX', math.max(1, ceildiv(tat - now, 1000)))
end

-- touch sets the expiry of the counters of current period i (ARGV 6..13:
-- period id, µs to keep) and returns their key.
local function touch(i)
  local k, keep = pkey(ARGV[4 + 2 * i]), tonumber(ARGV[5 + 2 * i])
  if keep > 0 then redis.call('PEXPIRE', k, ceildiv(keep, 1000)) end
  return k
end
