-- ratelimit: the sliding window of the Redis backend's decision script (see decide.lua).
--
-- A weighted counter: a limit's state is `start:cur:prev`, the current window's start, its
-- count and the previous window's count. Windows follow each other from a pool's first
-- request; a pool idle for two windows starts afresh. A request fits when
--   prev * (window - elapsed) / window + cur + cost <= count
-- where elapsed is the time since the current window started.

local format = '%d:%d:%d'
local match, floor, ceil = string.match, math.floor, math.ceil

-- What counting one more request of `cost` in a limit of `count` per `window`
-- (microseconds) would leave, from its state `v` (false when missing): see decide.lua.
local function check(v, count, window, cost)
  local start, cur, prev, fixed
  if v then
    start, cur, prev = match(v, '^(%d+):(%d+):(%d+)$')
  end
  if start then
    start, cur, prev = start + 0, cur + 0, prev + 0
    if start > now then
      -- Redis's clock stepped back: the current window starts now at the latest (kept,
      -- refused or not).
      start = now
      fixed = string.format(format, start, cur, prev)
    end
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
  local wait = 0
  if cur + cost > count then
    -- Full: wait for the next window, and in it until this one's count weighs count - cost
    -- (cur > 0 here: a cost is at most the count).
    wait = left + window - floor((count - cost) * window / cur)
  elseif prev * left > (count - cur - cost) * window then
    -- The previous window still weighs too much: wait until it weighs count - cur - cost.
    wait = window - floor((count - cur - cost) * window / prev) - elapsed
  end
  local remaining = count - cur - cost - ceil(prev * left / window)
  return wait, remaining, start + 2 * window - now, start, cur + cost, prev, fixed
end

-- The state `v` with a request of `cost` counted at `counted_at` given back, or nil when the
-- window that counted it is no longer the current one (see give_back.lua).
local function give(v, count, window, cost, counted_at)
  local start, cur, prev = match(v, '^(%d+):(%d+):(%d+)$')
  if not start then
    return nil
  end
  start, cur, prev = start + 0, cur + 0, prev + 0
  if cur == 0 or start > counted_at or now >= start + window then
    return nil
  end
  cur = cur - cost
  if cur < 0 then
    cur = 0
  end
  return string.format(format, start, cur, prev)
end
