-- reserve: ARGV now, ttl, id, µUSD, tokens, 4 x (period id, µs to keep) for
-- day, week, month and lifetime, limits JSON (used unless overridden).
-- Returns {0} held, {1, period} over budget, {2, retry s, what} rate
-- limited, {3} over the tokens-per-minute limit alone, {4} id already
-- used, {5} unknown budget period.
local now, ttl, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local usd, tok = tonumber(ARGV[4]), tonumber(ARGV[5])

purge(now, ttl)
if redis.call('ZSCORE', HOLDS, id) or redis.call('ZSCORE', DONE, id) then return {4} end
local limits = cjson.decode(redis.call('GET', base .. ':limits') or ARGV[14])
local names = {day = 1, week = 2, month = 3, lifetime = 4}
local pids, exps = current(now)

-- Budgets: spent + held + wanted must fit each. What is held in the
-- current periods is read once, for all of them.
local held
if type(limits.budgets) == 'table' then
  for _, b in ipairs(limits.budgets) do
    local i = names[b.period]
    if not i then return {5} end
    held = held or redis.call('HMGET', HELD, unpack(heldFields(pids)))
    local c = redis.call('HMGET', pkey(pids[i]), 'su', 'st')
    local capu, capt = num(b.microUSD), num(b.tokens)
    if (capu > 0 and num(c[1]) + num(held[2 * i - 1]) + usd > capu) or
       (capt > 0 and num(c[2]) + num(held[2 * i]) + tok > capt) then
      return {1, b.period}
    end
  end
end

-- Rate limits (GCRA): a request fits while the theoretical arrival time it
-- advances stays within a minute of now.
local function gcra(key, inc)
  local tat = math.max(num(redis.call('GET', key)), now) + inc
  return tat, tat - now - MINUTE
end
local rpm, tpm = num(limits.requestsPerMinute), num(limits.tokensPerMinute)
local rtat, ttat, tinc, over, what = nil, nil, 0, 0, 'requests'
if rpm > 0 then rtat, over = gcra(base .. ':rpm', ceildiv(MINUTE, rpm)) end
if tpm > 0 and tok > 0 then
  if tok > tpm then return {3} end
  tinc = ceildiv(tok * MINUTE, tpm)
  local o
  ttat, o = gcra(TPM, tinc)
  if o > over then over, what = o, 'tokens' end
end
if over > 0 then return {2, ceildiv(over, 1000000), what} end

-- Hold.
hold(pids, usd, tok, held)
redis.call('ZADD', HOLDS, int(now + ttl), id)
redis.call('HSET', HOLD, id, 'h ' .. ARGV[4] .. ' ' .. ARGV[5] .. ' ' .. int(tinc) .. ' ' ..
  table.concat(pids, ' ') .. ' ' .. table.concat(exps, ' '))
if rtat then redis.call('SET', base .. ':rpm', int(rtat), 'PX', ceildiv(rtat - now, 1000)) end
if ttat then redis.call('SET', TPM, int(ttat), 'PX', ceildiv(ttat - now, 1000)) end
return {0}
