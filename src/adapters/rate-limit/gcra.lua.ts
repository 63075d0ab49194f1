/**
 * gcra() from gcra.ts as a Redis script, so that read-decide-write is atomic across pods.
 *
 * Time comes from Redis (`TIME`), not from the pods: every pod then judges a key against the
 * same clock, and a pod whose clock is skewed cannot grant extra units or lock a user out.
 * (Redis ≥ 5 replicates scripts by effects, so calling TIME before a write is allowed.)
 * The TAT is stored as an integer number of microseconds, written with %d so that no digit is
 * lost to Lua's default number formatting.
 *
 * KEYS[1] key; ARGV interval_us, burst, cost.
 * Returns { allowed (0/1), remaining, retry_after_ms, reset_after_ms }.
 */
export const GCRA_LUA = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tolerance = interval * burst
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then tat = math.max(tonumber(stored), now) end
local new_tat = tat + cost * interval
local diff = new_tat - now
if diff <= tolerance then
  if cost > 0 then
    redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.max(1, math.ceil(diff / 1000)))
  end
  return { 1, math.floor((tolerance - diff) / interval), 0, math.ceil(diff / 1000) }
end
return {
  0,
  math.max(0, math.floor((tolerance - (tat - now)) / interval)),
  math.ceil((diff - tolerance) / 1000),
  math.ceil((tat - now) / 1000),
}
`;
