-- ratelimit: the fixed window of the Redis backend's decision script (see decide.lua).
--
-- A limit's state is `start:used`, the window's start and the requests counted in it. A
-- window starts at the first request after the previous one ended.

local format = '%d:%d'
local match = string.match

-- What counting one more request of `cost` in a limit of `count` per `window`
-- (microseconds) would leave, from its state `v` (false when missing): see decide.lua.
local function check(v, count, window, cost)
  local start, used, fixed
  if v then
    start, used = match(v, '^(%d+):(%d+)$')
  end
  if start then
    start, used = start + 0, used + 0
    if start > now then
      -- Redis's clock stepped back: the window ends a window from now at the latest (kept,
      -- refused or not, so that it ends then).
      start = now
      fixed = string.format(format, start, used)
    end
    if now >= start + window then
      start, used = now, 0
    end
  else
    start, used = now, 0
  end
  local reset = start + window - now
  local wait = 0
  if used + cost > count then
    wait = reset
  end
  return wait, count - used - cost, reset, start, used + cost, nil, fixed
end

-- The state `v` with a request of `cost` counted at `counted_at` given back, or nil when the
-- window that counted it has ended or another started since (see give_back.lua).
local function give(v, count, window, cost, counted_at)
  local start, used = match(v, '^(%d+):(%d+)$')
  if not start then
    return nil
  end
  start, used = start + 0, used + 0
  if used == 0 or start > counted_at or now >= start + window then
    return nil
  end
  used = used - cost
  if used < 0 then
    used = 0
  end
  return string.format(format, start, used)
end
