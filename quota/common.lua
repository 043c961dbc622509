-- Shared by every script, which it precedes. KEYS[1] is the base of one
-- book's keys, "<prefix>{<tag>}": every key a script touches is the base
-- and a suffix, so they all share the base's hash slot and each script runs
-- on one Redis Cluster node. Times are microseconds from the Go clock.
--
--   <base>:limits      string  JSON broker.ServerLimits overriding the config
--   <base>:expiry      zset    request id -> when its hold expires, or, once
--                              expired, when its record is forgotten
--   <base>:records     hash    request id -> "<state> usd tokens tinc pid1..pid4 exp1..exp4",
--                              state h (held) or x (expired: charged in full),
--                              exp when the periods' counters expire (µs, 0 never)
--   <base>:held        hash    <pid>:u, <pid>:t -> µUSD and tokens held in the
--                              period (absent when nothing is)
--   <base>:done        zset    settled or released id -> when it is forgotten
--   <base>:p:<period>  hash    su st (spent µUSD, tokens), n (requests)
--
-- The layout before held amounts moved to :held kept holds in :holds and
-- :hold, and hu, ht in the period hashes; these scripts never read them. A
-- request held by that version and settled by this one is charged without
-- a hold, as it should be; the old keys can be deleted once drained.
--   <base>:rpm, :tpm   string  GCRA theoretical arrival times
--
-- Each redis.call costs a script about a microsecond and a half, more than
-- most commands themselves, so the scripts read and write whole hashes at
-- once rather than field by field.
local base = KEYS[1]
local HOLDS, HOLD, HELD, DONE, TPM = base .. ':expiry', base .. ':records', base .. ':held', base .. ':done', base .. ':tpm'
local MINUTE = 60000000

local function pkey(pid) return base .. ':p:' .. pid end
local function num(v) return tonumber(v) or 0 end
local function int(v) return string.format('%d', v) end
local function ceildiv(a, b) return math.floor((a + b - 1) / b) end

-- current returns the ids of the current periods (ARGV 6, 8, 10, 12) and
-- when their counters expire (µs on the Go clock, as strings; '0': never),
-- from ARGV 7, 9, 11, 13: µs to keep them.
local function current(now)
  local pids, exps = {}, {}
  for i = 1, 4 do
    pids[i] = ARGV[4 + 2 * i]
    local keep = tonumber(ARGV[5 + 2 * i])
    exps[i] = '0'
    if keep > 0 then exps[i] = int(now + keep) end
  end
  return pids, exps
end

-- record returns the state of id's hold record ('h' or 'x'), its µUSD,
-- tokens, the µs of tokens-per-minute allowance it took, its periods' ids
-- and expiries, then the record itself; nil if there is none. forget drops
-- it.
local function record(id)
  local rec = redis.call('HGET', HOLD, id)
  if not rec then return nil end
  local f = {}
  for w in string.gmatch(rec, '%S+') do f[#f + 1] = w end
  return f[1], tonumber(f[2]), tonumber(f[3]), tonumber(f[4]),
    {f[5], f[6], f[7], f[8]}, {f[9] or '0', f[10] or '0', f[11] or '0', f[12] or '0'}, rec
end
local function forget(id)
  redis.call('ZREM', HOLDS, id)
  redis.call('HDEL', HOLD, id)
end

-- heldFields are the fields of :held for the periods pids.
local function heldFields(pids)
  local fields = {}
  for i = 1, 4 do
    fields[2 * i - 1], fields[2 * i] = pids[i] .. ':u', pids[i] .. ':t'
  end
  return fields
end

-- hold adds µUSD and tokens to what is held in the periods pids (negative:
-- gives them back), in one read (unless c holds its result already) and
-- one or two writes; fields that fall to zero are deleted.
local function hold(pids, usd, tok, c)
  local fields = heldFields(pids)
  c = c or redis.call('HMGET', HELD, unpack(fields))
  local set, del = {}, {}
  for j = 1, 8 do
    local v = num(c[j])
    if j % 2 == 1 then v = v + usd else v = v + tok end
    if v == 0 then
      if c[j] then del[#del + 1] = fields[j] end
    else
      set[#set + 1], set[#set + 2] = fields[j], int(v)
    end
  end
  if #set > 0 then redis.call('HSET', HELD, unpack(set)) end
  if #del > 0 then redis.call('HDEL', HELD, unpack(del)) end
  return c
end

-- charge adds to the spent counters and request counts of the periods
-- pids, one read and one write each; counters created here get their
-- expiry, counted on the Go clock like everything else.
local function charge(pids, exps, now, usd, tok, n)
  for i = 1, 4 do
    local k = pkey(pids[i])
    local c = redis.call('HMGET', k, 'su', 'st', 'n')
    redis.call('HSET', k, 'su', int(num(c[1]) + usd), 'st', int(num(c[2]) + tok), 'n', int(num(c[3]) + n))
    local exp = tonumber(exps[i])
    if not c[1] and exp > 0 then redis.call('PEXPIRE', k, math.max(1, ceildiv(exp - now, 1000))) end
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
    local state, usd, tok, _, pids, exps, rec = record(id)
    if state == 'h' then
      hold(pids, 0 - usd, 0 - tok)
      charge(pids, exps, now, usd, tok, 1)
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
