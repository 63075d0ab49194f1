import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export type ScriptArg = string | number;

/**
 * A Lua script called by SHA (EVALSHA), loaded on first use and again after a Redis restart
 * (NOSCRIPT), so the script body crosses the network once per server lifetime rather than on
 * every call. Keys go through the client's keyPrefix like any other command's.
 */
export function redisScript(
  lua: string,
): (redis: Redis, keys: readonly string[], args: readonly ScriptArg[]) => Promise<unknown> {
  const sha = createHash('sha1').update(lua).digest('hex');
  return async (redis, keys, args) => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(lua, keys.length, ...keys, ...args);
    }
  };
}

/** Lua tables come back as arrays of integers; anything else means the script and code disagree. */
export function integers(reply: unknown, length: number): number[] {
  const values: readonly unknown[] = Array.isArray(reply) ? reply : [];
  if (values.length !== length || !values.every((v): v is number => typeof v === 'number')) {
    throw new TypeError(`unexpected script reply ${JSON.stringify(reply)}`);
  }
  return [...values];
}
