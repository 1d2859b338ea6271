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
-- Times are integer microseconds from Redis TIME: Lua numbers are doubles, exact below 2^53
-- (until the year 2255), and so are the products below while count × window (in
-- microseconds) stays under 2^53. Every state is judged against this clock, never against
-- Redis expiry, so expiry only collects garbage; every key written gets its expiry here too.
--
-- Reply: {1, i, remaining, reset}   admitted and counted in every limit; i is the limit with
--                                   the fewest requests left (the longer reset on a tie)
--        {0, i, retry}              refused, nothing counted; i is the exhausted limit that
--                                   frees up last (the longer window on a tie), or 0 when
--                                   the user is blocked

if redis.replicate_commands then
  redis.replicate_commands()
end

local time = redis.call('TIME')
local now = tonumber(ARGV[2])
local grace = 0
if ARGV[3] == '1' then
  -- The test clock: keys must outlive the real time a test takes between its steps.
  grace = 60000
else
  now = now + tonumber(time[1]) * 1000000 + tonumber(time[2])
end
local algorithm = tonumber(ARGV[1])
local block_time = tonumber(ARGV[4])
local n = #KEYS - 1

-- A key's time to live in whole milliseconds, rounded up, at least 1.
local function ttl(us)
  local ms = math.ceil(us / 1000)
  if ms < 1 then
    ms = 1
  end
  return ms + grace
end

-- Each check returns the limit's state as the request would leave it:
--   wait       microseconds until the request fits this limit (0: it fits now)
--   remaining  requests left after counting this one
--   reset      microseconds until the limit is back to its full count after this one
--   commit     counts the request

-- Fixed window: hash {s = window start, n = requests counted}. A window starts at the first
-- request after the previous one ended.
local function fixed_window(key, count, window)
  local v = redis.call('HMGET', key, 's', 'n')
  local start, used = tonumber(v[1]), tonumber(v[2])
  if start == nil or used == nil or now >= start + window then
    start, used = now, 0
  end
  local s = {}
  s.reset = start + window - now
  if used + 1 > count then
    s.wait = s.reset
  else
    s.wait = 0
  end
  s.remaining = count - used - 1
  s.commit = function()
    redis.call('HSET', key, 's', start, 'n', used + 1)
    redis.call('PEXPIRE', key, ttl(s.reset))
  end
  return s
end

-- Sliding window (weighted counter): hash {s = current window start, c = its count, p = the
-- previous window's count}. Windows follow each other from a pool's first request; a pool
-- idle for two windows starts afresh. A request fits when
--   p * (window - elapsed) / window + c + 1 <= count
-- where elapsed is the time since the current window started.
local function sliding_window(key, count, window)
  local v = redis.call('HMGET', key, 's', 'c', 'p')
  local start, cur, prev = tonumber(v[1]), tonumber(v[2]), tonumber(v[3])
  if start == nil or cur == nil or prev == nil or now >= start + 2 * window then
    start, cur, prev = now, 0, 0
  elseif now >= start + window then
    start, cur, prev = start + window, 0, cur
  end
  local elapsed = now - start
  if elapsed < 0 then
    elapsed = 0
  end
  local left = window - elapsed
  local s = {}
  s.reset = start + 2 * window - now
  if cur + 1 > count then
    -- Full: wait for the next window, and in it until this one's count weighs count - 1.
    s.wait = left + window - math.floor((count - 1) * window / cur)
  elseif prev * left > (count - cur - 1) * window then
    -- The previous window still weighs too much: wait until it weighs count - cur - 1.
    s.wait = window - math.floor((count - cur - 1) * window / prev) - elapsed
  else
    s.wait = 0
  end
  s.remaining = count - cur - 1 - math.ceil(prev * left / window)
  s.commit = function()
    redis.call('HSET', key, 's', start, 'c', cur + 1, 'p', prev)
    redis.call('PEXPIRE', key, ttl(s.reset))
  end
  return s
end

-- GCRA: hash {q, r, c}, the theoretical arrival time TAT = q + r / c microseconds, c being
-- the count it was reckoned for. Requests are spaced by interval = window / count with a burst
-- of count: a request fits when TAT - (count - 1) * interval <= now, and counting it sets
-- TAT = max(TAT, now) + interval. Below, times ahead of now are in units of 1 / count
-- microsecond, where the interval is exactly `window`: nothing drifts.
local function gcra(key, count, window)
  local v = redis.call('HMGET', key, 'q', 'r', 'c')
  local q, r, c = tonumber(v[1]), tonumber(v[2]), tonumber(v[3])
  if q == nil or r == nil or c == nil then
    q, r = now, 0
  elseif c ~= count then
    -- Another limit of the same window shares the state: its TAT, rounded up to the
    -- microsecond.
    if r > 0 then
      q = q + 1
    end
    r = 0
  end
  if q < now then
    q, r = now, 0
  end
  local tolerance = (count - 1) * window
  local ahead = (q - now) * count + r
  local s = {}
  if ahead > tolerance then
    s.wait = math.ceil((ahead - tolerance) / count)
  else
    s.wait = 0
  end
  local after = ahead + window
  s.reset = math.ceil(after / count)
  if after <= tolerance then
    s.remaining = math.floor((tolerance - after) / window) + 1
    if s.remaining > count then
      s.remaining = count
    end
  else
    s.remaining = 0
  end
  s.commit = function()
    local carried = r + window
    local whole = math.floor(carried / count)
    redis.call('HSET', key, 'q', q + whole, 'r', carried - whole * count, 'c', count)
    redis.call('PEXPIRE', key, ttl(s.reset))
  end
  return s
end

local check
if algorithm == 1 then
  check = fixed_window
elseif algorithm == 2 then
  check = sliding_window
elseif algorithm == 3 then
  check = gcra
else
  return redis.error_reply('ratelimit: unknown algorithm ' .. tostring(ARGV[1]))
end

local states = {}
local longest, binding = 0, 0
for i = 1, n do
  local s = check(KEYS[1 + i], tonumber(ARGV[3 + 2 * i]), tonumber(ARGV[4 + 2 * i]))
  states[i] = s
  if s.wait > 0 and s.wait >= longest then
    longest, binding = s.wait, i
  end
end

-- Blocked: refused, nothing counted, the block not extended. The wait is the block's rest,
-- or longer when a window of this rule is still exhausted then.
local blocked_until = tonumber(redis.call('GET', KEYS[1]))
if blocked_until ~= nil and blocked_until > now then
  local retry = blocked_until - now
  if longest > retry then
    retry = longest
  end
  return {0, 0, math.ceil(retry)}
end

if binding > 0 then
  local retry = longest
  if block_time > 0 then
    redis.call('SET', KEYS[1], now + block_time, 'PX', ttl(block_time))
    if block_time > retry then
      retry = block_time
    end
  end
  return {0, binding, math.ceil(retry)}
end

local tightest = 1
for i = 1, n do
  local s, t = states[i], states[tightest]
  s.commit()
  if s.remaining < t.remaining or (s.remaining == t.remaining and s.reset > t.reset) then
    tightest = i
  end
end
return {1, tightest, states[tightest].remaining, math.ceil(states[tightest].reset)}
