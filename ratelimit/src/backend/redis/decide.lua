-- ratelimit: one decision of the Redis backend, in one round trip.
--
-- KEYS[1]        the user's block key
-- KEYS[1 + i]    the state of limit i (i = 1..n), in the rule's order
-- ARGV[1]        algorithm: 1 fixed window, 2 sliding window, 3 GCRA
-- ARGV[2]        test-only clock offset in microseconds (0 in production)
-- ARGV[3]        test-only clock mode: 0 = Redis TIME + offset (production); 1 = the offset
--                alone, a clock that stands still between a test's steps
-- ARGV[4]        block time in microseconds; 0 when the rule has none
-- ARGV[3 + 2i]   count of limit i
-- ARGV[4 + 2i]   window of limit i, in microseconds
--
-- Every key is a string. The block holds the time it ends; a limit's state holds its fields
-- as decimal integers joined by `:` (see each algorithm below); a state that is missing or
-- not of that form is a fresh one. A decision makes at most three calls: `TIME`, one `MGET`
-- of all its keys (the block first), and, when it admits, one `SET … PX` per limit (when it
-- refuses, a `SET … PX` of the block if the rule has a block time, or nothing).
--
-- Times are integer microseconds from Redis TIME: Lua numbers are doubles, exact below 2^53
-- (until the year 2255), and so are the products below while count × window (in
-- microseconds) stays under 2^53. Every state is judged against this clock, never against
-- Redis expiry, so expiry only collects garbage; every key written gets its expiry here too.
--
-- Reply, one string of decimal integers joined by `:` (the client parses one bulk string in
-- a fraction of the instructions an array of integers takes):
--        '1:i:remaining:reset'      admitted and counted in every limit; i is the limit with
--                                   the fewest requests left (the longer reset on a tie)
--        '0:i:retry'                refused, nothing counted; i is the exhausted limit that
--                                   frees up last (the longer window on a tie), or 0 when
--                                   the user is blocked

if redis.replicate_commands then
  redis.replicate_commands()
end

-- Numeric strings (ARGV, TIME's reply, the digits matched in a state) are converted by
-- arithmetic (`+ 0`), which is cheaper here than calling tonumber.
local time = redis.call('TIME')
local now = ARGV[2] + 0
local grace = 0
if ARGV[3] == '1' then
  -- The test clock: keys must outlive the real time a test takes between its steps.
  grace = 60000
else
  now = now + time[1] * 1000000 + time[2]
end
local algorithm = ARGV[1]
local format
if algorithm == '1' then
  format = '%d:%d'
elseif algorithm == '2' or algorithm == '3' then
  format = '%d:%d:%d'
else
  return redis.error_reply('ratelimit: unknown algorithm ' .. tostring(ARGV[1]))
end
local n = #KEYS - 1
-- values[1] is the block, values[1 + i] the state of limit i; false when missing.
local values = redis.call('MGET', unpack(KEYS))
local match, floor, ceil = string.match, math.floor, math.ceil

-- Each limit's check leaves the state the request would leave:
--   wait       microseconds until the request fits this limit (0: it fits now)
--   remaining  requests left after counting this one
--   reset      microseconds until the limit is back to its full count after this one
--   a, b, c    the fields to store when the request is counted (`format` joins them)
-- The last limit's stay in these locals; the others' go to `pending`, four slots each.
local wait, remaining, reset, a, b, c
local pending
local longest, binding = 0, 0
local tightest, least, latest = 1, 0, 0
for i = 1, n do
  local v = values[1 + i]
  local count, window = ARGV[3 + 2 * i] + 0, ARGV[4 + 2 * i] + 0
  if algorithm == '1' then
    -- Fixed window: `start:used`, the window's start and the requests counted in it. A
    -- window starts at the first request after the previous one ended.
    local start, used
    if v then
      start, used = match(v, '^(%d+):(%d+)$')
    end
    if start then
      start, used = start + 0, used + 0
      if now >= start + window then
        start, used = now, 0
      end
    else
      start, used = now, 0
    end
    reset = start + window - now
    wait = 0
    if used + 1 > count then
      wait = reset
    end
    remaining = count - used - 1
    a, b = start, used + 1
  elseif algorithm == '2' then
    -- Sliding window (weighted counter): `start:cur:prev`, the current window's start, its
    -- count and the previous window's count. Windows follow each other from a pool's first
    -- request; a pool idle for two windows starts afresh. A request fits when
    --   prev * (window - elapsed) / window + cur + 1 <= count
    -- where elapsed is the time since the current window started.
    local start, cur, prev
    if v then
      start, cur, prev = match(v, '^(%d+):(%d+):(%d+)$')
    end
    if start then
      start, cur, prev = start + 0, cur + 0, prev + 0
      if now >= start + 2 * window then
        start, cur, prev = now, 0, 0
      elseif now >= start + window then
        start, cur, prev = start + window, 0, cur
      end
    else
      start, cur, prev = now, 0, 0
    end
    local elapsed = now - start
    if elapsed < 0 then
      elapsed = 0
    end
    local left = window - elapsed
    reset = start + 2 * window - now
    if cur + 1 > count then
      -- Full: wait for the next window, and in it until this one's count weighs count - 1.
      wait = left + window - floor((count - 1) * window / cur)
    elseif prev * left > (count - cur - 1) * window then
      -- The previous window still weighs too much: wait until it weighs count - cur - 1.
      wait = window - floor((count - cur - 1) * window / prev) - elapsed
    else
      wait = 0
    end
    remaining = count - cur - 1 - ceil(prev * left / window)
    a, b, c = start, cur + 1, prev
  else
    -- GCRA: `q:r:c`, the theoretical arrival time TAT = q + r / c microseconds, c being the
    -- count it was reckoned for. Requests are spaced by interval = window / count with a
    -- burst of count: a request fits when TAT - (count - 1) * interval <= now, and counting
    -- it sets TAT = max(TAT, now) + interval. Below, times ahead of now are in units of
    -- 1 / count microsecond, where the interval is exactly `window`: nothing drifts.
    local q, r, reckoned
    if v then
      q, r, reckoned = match(v, '^(%d+):(%d+):(%d+)$')
    end
    if q then
      q, r = q + 0, r + 0
      if reckoned + 0 ~= count then
        -- Another limit of the same window shares the state: its TAT, rounded up to the
        -- microsecond.
        if r > 0 then
          q = q + 1
        end
        r = 0
      end
    else
      q, r = now, 0
    end
    if q < now then
      q, r = now, 0
    end
    local tolerance = (count - 1) * window
    local ahead = (q - now) * count + r
    if ahead > tolerance then
      wait = ceil((ahead - tolerance) / count)
    else
      wait = 0
    end
    local after = ahead + window
    reset = ceil(after / count)
    if after <= tolerance then
      remaining = floor((tolerance - after) / window) + 1
      if remaining > count then
        remaining = count
      end
    else
      remaining = 0
    end
    local carried = r + window
    local whole = floor(carried / count)
    a, b, c = q + whole, carried - whole * count, count
  end
  if wait > 0 and wait >= longest then
    longest, binding = wait, i
  end
  if i == 1 or remaining < least or (remaining == least and reset > latest) then
    tightest, least, latest = i, remaining, reset
  end
  if i < n then
    if pending == nil then
      pending = {}
    end
    local j = 4 * i
    pending[j - 3], pending[j - 2], pending[j - 1], pending[j] = reset, a, b, c
  end
end

-- A key's time to live in whole milliseconds, rounded up, at least 1 (`us` is a whole
-- number of microseconds), as a decimal string: Redis would format a number with `%.17g`,
-- which costs more than `%d`.
local function ttl(us)
  local ms = (us + 999) / 1000
  ms = ms - ms % 1
  if ms < 1 then
    ms = 1
  end
  return string.format('%d', ms + grace)
end

-- Blocked: refused, nothing counted, the block not extended. The wait is the block's rest,
-- or longer when a window of this rule is still exhausted then.
local block = values[1]
if block then
  local blocked_until = tonumber(block)
  if blocked_until ~= nil and blocked_until > now then
    local retry = blocked_until - now
    if longest > retry then
      retry = longest
    end
    return string.format('0:0:%d', ceil(retry))
  end
end

-- Every wait, reset and block time is a whole number of microseconds: no rounding below.
if binding > 0 then
  local retry = longest
  local block_time = ARGV[4] + 0
  if block_time > 0 then
    redis.call('SET', KEYS[1], now + block_time, 'PX', ttl(block_time))
    if block_time > retry then
      retry = block_time
    end
  end
  return string.format('0:%d:%d', binding, retry)
end

for i = 1, n - 1 do
  local j = 4 * i
  redis.call('SET', KEYS[1 + i], string.format(format, pending[j - 2], pending[j - 1], pending[j]),
    'PX', ttl(pending[j - 3]))
end
redis.call('SET', KEYS[1 + n], string.format(format, a, b, c), 'PX', ttl(reset))
return string.format('1:%d:%d:%d', tightest, least, latest)
