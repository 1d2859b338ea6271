-- ratelimit: one decision of the Redis backend, in one round trip.
--
-- The script of one algorithm is three parts joined at compile time (see script.rs): a
-- clock (clock.lua: `now` and `ttl`), the algorithm (fixed_window.lua, sliding_window.lua or
-- gcra.lua: `format` and `check`), and this one.
--
-- KEYS[1]        the user's block key
-- KEYS[1 + i]    the state of limit i (i = 1..n), in the rule's order
-- ARGV[1]        block time in microseconds; 0 when the rule has none
-- ARGV[2]        the request's cost: how much of every limit it uses (from 1 to each count)
-- ARGV[2i + 1]   count of limit i
-- ARGV[2i + 2]   window of limit i, in microseconds
--
-- Every key is a string. The block holds the time it ends and its length, `end.length` (a
-- reader of the first versions, which wrote `end`, takes it for a number a fraction of a
-- microsecond past `end`); a limit's state holds its fields
-- as decimal integers joined by `:` (see the algorithm); a state that is missing or not of
-- that form is a fresh one. A decision makes at most three calls: `TIME`, one `MGET` of all
-- its keys (the block first), and, when it admits, one `SET … PX` per limit (when it
-- refuses, a `SET … PX` of the block if the rule has a block time, or nothing). After Redis's
-- clock stepped back, a refusal also writes, once, each state and the block it brought back.
--
-- Times are integer microseconds; the products below are exact while count × window (in
-- microseconds) stays under 2^53. Every key written gets its expiry in the same command.
--
-- Reply, one string of decimal integers joined by `:` (the client parses one bulk string in
-- a fraction of the instructions an array of integers takes):
--        '1:i:remaining:reset:now'  admitted and counted in every limit; i is the limit with
--                                   the fewest units left (the longer reset on a tie); now is
--                                   the time it was counted at (what a give-back takes)
--        '0:i:retry'                refused by a limit, nothing counted; i is the exhausted
--                                   limit that frees up last (the longer window on a tie)
--        '0:0:retry:rest:i'         refused, the user blocked, nothing counted; rest is the
--                                   block's rest, i the exhausted limit that frees up last (0
--                                   when none is; retry is its wait when it outlasts the block)

local n = #KEYS - 1
local cost = ARGV[2] + 0
-- values[1] is the block, values[1 + i] the state of limit i; false when missing.
local values = redis.call('MGET', unpack(KEYS))

-- Each limit's `check` gives the state the request would leave:
--   wait       microseconds until the request fits this limit (0: it fits now)
--   remaining  units left after counting this one (requests of cost 1)
--   reset      microseconds until the limit is back to its full count after this one
--   a, b, c    the fields to store when the request is counted (`format` joins them)
--   fixed      nil, or, when Redis's clock stepped back behind the state, the state brought
--              back to now (no window or block lasts longer than it was set to), to store
--              even when the request is refused
-- The last limit's stay in these locals; the others' go to `pending`, four slots each.
local wait, remaining, reset, a, b, c, fixed
local pending, fixes
local longest, binding = 0, 0
local tightest, least, latest = 1, 0, 0
for i = 1, n do
  wait, remaining, reset, a, b, c, fixed = check(values[1 + i], ARGV[1 + 2 * i] + 0,
    ARGV[2 + 2 * i] + 0, cost)
  if fixed then
    if fixes == nil then
      fixes = {}
    end
    fixes[i] = fixed
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

-- A refusal keeps the states a clock step brought back (rare: `fixes` is nil otherwise).
local function keep_fixes()
  if fixes then
    for i, state in pairs(fixes) do
      redis.call('SET', KEYS[1 + i], state, 'PX', ttl(2 * ARGV[2 + 2 * i]))
    end
  end
end

-- Blocked: refused, nothing counted, the block not extended. The wait is the block's rest,
-- or longer when a window of this rule is still exhausted then.
local block = values[1]
if block then
  -- `end.length` (this version), or `end` (the first versions, and what they read of ours:
  -- `end` plus less than a microsecond).
  local blocked_until, length = string.match(block, '^(%d+)%.(%d+)$')
  if blocked_until then
    blocked_until, length = blocked_until + 0, length + 0
    if blocked_until - now > length then
      -- Redis's clock stepped back: the block ends its length from now at the latest.
      blocked_until = now + length
      redis.call('SET', KEYS[1], string.format('%d.%d', blocked_until, length), 'PX',
        ttl(length))
    end
  else
    blocked_until = tonumber(block)
  end
  if blocked_until ~= nil and blocked_until > now then
    local retry = blocked_until - now
    if longest > retry then
      retry = longest
    end
    keep_fixes()
    return string.format('0:0:%d:%d:%d', math.ceil(retry), math.ceil(blocked_until - now),
      binding)
  end
end

-- Every wait, reset and block time is a whole number of microseconds: no rounding below.
if binding > 0 then
  local retry = longest
  local block_time = ARGV[1] + 0
  if block_time > 0 then
    redis.call('SET', KEYS[1], string.format('%d.%d', now + block_time, block_time), 'PX',
      ttl(block_time))
    if block_time > retry then
      retry = block_time
    end
  end
  keep_fixes()
  return string.format('0:%d:%d', binding, retry)
end

for i = 1, n - 1 do
  local j = 4 * i
  redis.call('SET', KEYS[1 + i], string.format(format, pending[j - 2], pending[j - 1], pending[j]),
    'PX', ttl(pending[j - 3]))
end
redis.call('SET', KEYS[1 + n], string.format(format, a, b, c), 'PX', ttl(reset))
return string.format('1:%d:%d:%d:%d', tightest, least, latest, now)
