-- Shared by every script, which it precedes. KEYS[1] is the base of one
-- book's keys, "<prefix>{<tag>}": every key a script touches is the base
-- and a suffix, so they all share the base's hash slot and each script runs
-- on one Redis Cluster node. Times are microseconds from the Go clock.
--
--   <base>:limits      string  JSON broker.ServerLimits overriding the config
--   <base>:holds       zset    request id -> when its hold expires
--   <base>:hold        hash    request id -> "usd tokens tinc pid1 pid2 pid3 pid4"
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

-- hold returns what id holds: µUSD, tokens, the µs of tokens-per-minute
-- allowance it took and the keys of its periods; nil if id holds nothing.
-- It forgets the hold: the caller gives the amounts back.
local function hold(id)
  local rec = redis.call('HGET', HOLD, id)
  if not rec then return nil end
  local f = {}
  for w in string.gmatch(rec, '%S+') do f[#f + 1] = w end
  redis.call('ZREM', HOLDS, id)
  redis.call('HDEL', HOLD, id)
  return tonumber(f[1]), tonumber(f[2]), tonumber(f[3]), {pkey(f[4]), pkey(f[5]), pkey(f[6]), pkey(f[7])}
end

-- unhold drops hold id, returning its amounts to its periods, and returns
-- what hold does.
local function unhold(id)
  local usd, tok, tinc, keys = hold(id)
  if not usd then return nil end
  for _, k in ipairs(keys) do
    redis.call('HINCRBY', k, 'hu', int(0 - usd))
    redis.call('HINCRBY', k, 'ht', int(0 - tok))
  end
  return usd, tok, tinc, keys
end

-- purge returns the amounts of holds expired at now to their budgets and
-- forgets settled ids past their replay window.
local function purge(now)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', HOLDS, '-inf', now)) do unhold(id) end
  redis.call('ZREMRANGEBYSCORE', DONE, '-inf', now)
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
