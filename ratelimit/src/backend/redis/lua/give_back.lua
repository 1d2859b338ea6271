-- ratelimit: giving back a request of the Redis backend, in one round trip: a rule's
-- `count_if` did not count its response.
--
-- The script of one algorithm is three parts joined at compile time (see script.rs): a
-- clock (`now`), the algorithm (its `give`) and this one.
--
-- KEYS[i]        the state of limit i (i = 1..n), in the rule's order
-- ARGV[1]        the request's cost
-- ARGV[2]        when the request was counted: the decision's `now`, in microseconds
-- ARGV[2i + 1]   count of limit i
-- ARGV[2i + 2]   window of limit i, in microseconds
--
-- Each limit's state gives back the cost when it is still the window that counted the
-- request (never below zero, never a window started since), keeping its expiry; a missing
-- state has nothing to give back. Reply: the number of states given back to.

local cost, counted_at = ARGV[1] + 0, ARGV[2] + 0
local given = 0
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v then
    local state = give(v, ARGV[1 + 2 * i] + 0, ARGV[2 + 2 * i] + 0, cost, counted_at)
    if state then
      redis.call('SET', KEYS[i], state, 'KEEPTTL')
      given = given + 1
    end
  end
end
return given
