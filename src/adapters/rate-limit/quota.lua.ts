/**
 * Quota counters as Redis scripts: check-and-increment must be one atomic step, or two pods
 * could both see "limit − 1" and both take the last unit.
 */

/** KEYS[1] key; ARGV limit, idle_ttl_ms (0 = none). Returns { acquired (0/1), current }. */
export const QUOTA_ACQUIRE_LUA = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current >= tonumber(ARGV[1]) then return { 0, current } end
current = redis.call('INCR', KEYS[1])
local ttl = tonumber(ARGV[2])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return { 1, current }
`;

/** KEYS[1] key; ARGV idle_ttl_ms (0 = none). Returns the count after release (never < 0). */
export const QUOTA_RELEASE_LUA = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current <= 1 then
  redis.call('DEL', KEYS[1])
  return 0
end
current = redis.call('DECR', KEYS[1])
local ttl = tonumber(ARGV[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return current
`;

/**
 * KEYS[1] key; ARGV units (0 = delete), idle_ttl_ms (0 = none). Returns the count before.
 * GET and SET in one step, so the count reported as replaced is exactly the one overwritten.
 */
export const QUOTA_SET_LUA = `
local before = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) <= 0 then
  redis.call('DEL', KEYS[1])
elseif tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return before
`;
