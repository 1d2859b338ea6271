-- ratelimit: the test clock of the Redis backend's decision scripts (the `test-util`
-- feature; see decide.lua), in place of clock.lua. Never loaded without that feature, and,
-- with it, used only by a backend whose test clock was frozen or moved.
--
-- Two arguments follow those of decide.lua:
-- ARGV[#ARGV - 1]  an offset in microseconds (negative: a clock stepped back)
-- ARGV[#ARGV]      '1': the clock is frozen, `now` is the offset alone; '0': `now` is Redis
--                  TIME plus the offset

local now = ARGV[#ARGV - 1] + 0
local frozen = ARGV[#ARGV] == '1'
if not frozen then
  if redis.replicate_commands then
    redis.replicate_commands()
  end
  local time = redis.call('TIME')
  now = now + time[1] * 1000000 + time[2]
end

-- As clock.lua's, with one difference for the frozen clock: it stands still while Redis
-- expires keys by real time, so a key must outlive the real time between two steps of a
-- test, or a state written near the end of its time (a TTL of 1 ms) would vanish before the
-- next step reads it. One second covers a step on a loaded machine (the real-clock tests
-- allow 0.9 s). A moved clock that runs needs none: it is never behind Redis's.
local slack = 0
if frozen then
  slack = 1000
end
local function ttl(us)
  local ms = (us + 999) / 1000
  ms = ms - ms % 1
  if ms < 1 then
    ms = 1
  end
  return string.format('%d', ms + slack)
end
