import { z } from 'zod';
import { text } from '../validation.js';

/** Rules for usernames and passwords, shared by Register and Login. */

export const USERNAME_RULE =
  '3 to 32 characters: letters, digits, "_", "." or "-", starting with a letter or digit';
export const PASSWORD_MIN = 12;
/** An upper bound keeps hashing cost bounded: argon2 of a megabyte is a denial of service. */
export const PASSWORD_MAX = 256;

export const usernameSchema = z
  .string({ error: 'expected a string' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$/, { error: `expected ${USERNAME_RULE}` });

export const passwordSchema = text(PASSWORD_MAX).min(PASSWORD_MIN, {
  error: `must be at least ${PASSWORD_MIN} characters`,
});

export const registerSchema = z.object({ username: usernameSchema, password: passwordSchema });

/** Login does not re-check password rules: a wrong password is just wrong. */
export const loginSchema = z.object({
  username: text(64, { required: true }),
  password: text(PASSWORD_MAX, { required: true }),
});

export const refreshTokenSchema = z.object({
  refreshToken: text(512, { required: true }),
});
