-- ratelimit: GCRA in the Redis backend's decision script (see decide.lua).
--
-- A limit's state is `q:r:c`, the theoretical arrival time TAT = q + r / c microseconds, c
-- being the count it was reckoned for. Requests are spaced by interval = window / count with
-- a burst of count: a request fits when TAT - (count - 1) * interval <= now, and counting it
-- sets TAT = max(TAT, now) + interval. Below, times ahead of now are in units of 1 / count
-- microsecond, where the interval is exactly `window`: nothing drifts.

local format = '%d:%d:%d'
local match, floor, ceil = string.match, math.floor, math.ceil

-- The TAT `q + r / count` of the state `v` (false when missing) for a limit of `count`, or
-- nil for a missing state or one not of that form.
local function tat(v, count)
  local q, r, reckoned
  if v then
    q, r, reckoned = match(v, '^(%d+):(%d+):(%d+)$')
  end
  if not q then
    return nil
  end
  q, r = q + 0, r + 0
  if reckoned + 0 ~= count then
    -- Another limit of the same window shares the state: its TAT, rounded up to the
    -- microsecond.
    if r > 0 then
      q = q + 1
    end
    r = 0
  end
  return q, r
end

-- What counting one more request of `cost` in a limit of `count` per `window`
-- (microseconds) would leave, from its state `v` (false when missing): see decide.lua. A
-- request of cost k fits when TAT - (count - k) * interval <= now, and sets
-- TAT = max(TAT, now) + k * interval.
local function check(v, count, window, cost)
  local fixed
  local q, r = tat(v, count)
  if not q then
    q, r = now, 0
  end
  if q < now then
    q, r = now, 0
  elseif (q - now) * count + r > count * window then
    -- Redis's clock stepped back: TAT is never more than a window ahead of now (kept,
    -- refused or not).
    q, r = now + window, 0
    fixed = string.format(format, q, r, count)
  end
  local tolerance = (count - 1) * window
  local room = (count - cost) * window
  local ahead = (q - now) * count + r
  local wait = 0
  if ahead > room then
    wait = ceil((ahead - room) / count)
  end
  local after = ahead + cost * window
  local remaining = 0
  if after <= tolerance then
    remaining = floor((tolerance - after) / window) + 1
    if remaining > count then
      remaining = count
    end
  end
  local carried = r + cost * window
  local whole = floor(carried / count)
  return wait, remaining, ceil(after / count), q + whole, carried - whole * count, count, fixed
end

-- The state `v` with a request of `cost` given back: its emission intervals off the TAT,
-- which never goes below now; nil when the TAT is not ahead of now, or a window has passed
-- since the request was counted (its intervals have all passed; see give_back.lua).
local function give(v, count, window, cost, counted_at)
  local q, r = tat(v, count)
  if not q or now >= counted_at + window then
    return nil
  end
  local ahead = (q - now) * count + r
  if ahead <= 0 then
    return nil
  end
  ahead = ahead - cost * window
  if ahead < 0 then
    ahead = 0
  end
  local whole = floor(ahead / count)
  return string.format(format, now + whole, ahead - whole * count, count)
end
