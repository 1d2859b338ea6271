-- ratelimit: the clock of the Redis backend's decision scripts (see decide.lua), Redis's own.
--
-- `now` is Redis TIME in integer microseconds: Lua numbers are doubles, exact below 2^53
-- (until the year 2255). Every state is judged against it, never against Redis expiry, so
-- expiry only collects garbage.

if redis.replicate_commands then
  redis.replicate_commands()
end

-- Numeric strings (TIME's reply, ARGV, the digits matched in a state) are converted by
-- arithmetic (`+ 0`), which is cheaper here than calling tonumber.
local time = redis.call('TIME')
local now = time[1] * 1000000 + time[2]

-- A key's time to live in whole milliseconds, rounded up, at least 1 (`us` is a whole
-- number of microseconds, the time the key's state matters by `now`), as a decimal string:
-- Redis would format a number with `%.17g`, which costs more than `%d`.
local function ttl(us)
  local ms = (us + 999) / 1000
  ms = ms - ms % 1
  if ms < 1 then
    ms = 1
  end
  return string.format('%d', ms)
end
