import { hash, verify } from '@node-rs/argon2';
import type { PasswordHasher } from '../../domain/auth/auth.port.js';

export interface Argon2Settings {
  /** KiB of memory per hash. OWASP's minimum for argon2id is 19 MiB with 2 passes. */
  readonly memoryCost: number;
  readonly timeCost: number;
}

/** `Algorithm.Argon2id`: the package exports it as a const enum, which isolated modules cannot read. */
const ARGON2ID = 2;

/** OWASP's recommended argon2id floor; tests may lower it to stay fast. */
export const OWASP_ARGON2: Argon2Settings = { memoryCost: 19_456, timeCost: 2 };

/** argon2id through @node-rs/argon2: prebuilt, runs off the event loop. */
export class Argon2PasswordHasher implements PasswordHasher {
  constructor(private readonly settings: Argon2Settings = OWASP_ARGON2) {}

  hash(password: string): Promise<string> {
    return hash(password, {
      // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- see ARGON2ID
      algorithm: ARGON2ID,
      memoryCost: this.settings.memoryCost,
      timeCost: this.settings.timeCost,
      parallelism: 1,
    });
  }

  async verify(passwordHash: string, password: string): Promise<boolean> {
    try {
      return await verify(passwordHash, password);
    } catch {
      // A malformed stored hash verifies nothing.
      return false;
    }
  }
}
