import { timestampMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type Client } from '@connectrpc/connect';
import type { AuthService, TokenPair } from '../gen/trading/v1/auth_pb.js';
import { Backoff } from './backoff.js';
import type { KeyValueStorage, Timers } from './environment.js';

export type AuthState =
  | { readonly status: 'signed-out'; readonly reason?: string }
  | {
      readonly status: 'signed-in';
      readonly userId: string;
      readonly username: string;
      readonly accessExpiresAt: number;
      /** Successful refreshes since sign-in. */
      readonly refreshes: number;
    };

export interface TokenKeeperOptions {
  readonly auth: Client<typeof AuthService>;
  readonly timers: Timers;
  readonly random: () => number;
  readonly storage: KeyValueStorage | undefined;
  /** Refresh this long before the access token expires (at most a fifth of its lifetime). */
  readonly refreshMarginMs: number;
  /** Transient refresh failures tried again before giving up and signing out. */
  readonly maxRefreshRetries: number;
  readonly onChange: (state: AuthState) => void;
  /** A new access token: hand it to long-lived streams (in-band re-authentication). */
  readonly onRotated: (accessToken: string) => void;
}

interface Held {
  readonly userId: string;
  readonly username: string;
  readonly access: string;
  readonly accessExpiresAt: number;
  readonly refresh: string;
  readonly refreshes: number;
}

const STORAGE_KEY = 'trading.session';

/** A refresh answered with one of these will never succeed: sign out at once. */
const FINAL = new Set([
  Code.Unauthenticated,
  Code.PermissionDenied,
  Code.InvalidArgument,
  Code.NotFound,
  Code.FailedPrecondition,
]);

/**
 * Holds the user's tokens: refreshes the access token before it expires, takes the rotated
 * refresh token each time (each works once), retries a refresh that failed for a transient
 * reason a few times, and otherwise ends in a clear signed-out state rather than a loop.
 */
export class TokenKeeper {
  #held: Held | undefined;
  #state: AuthState = { status: 'signed-out' };
  #timer: unknown;
  #refreshing: Promise<boolean> | undefined;
  readonly #retries: Backoff;

  constructor(private readonly options: TokenKeeperOptions) {
    this.#retries = new Backoff({ minMs: 500, maxMs: 10_000, random: options.random });
  }

  get state(): AuthState {
    return this.#state;
  }

  /** The current access token, if signed in. */
  get accessToken(): string | undefined {
    return this.#held?.access;
  }

  async signIn(username: string, password: string): Promise<void> {
    const response = await this.options.auth.login({ username, password });
    if (response.tokens === undefined) throw new Error('login answered without tokens');
    this.#hold(response.userId, username, response.tokens, 0);
  }

  /** Signs in again from the refresh token the tab remembers, if any; true when it did. */
  async restore(): Promise<boolean> {
    // Already signed in or restoring (React's StrictMode mounts effects twice).
    if (this.#held !== undefined) return this.#refreshing ?? this.#state.status === 'signed-in';
    const raw = this.options.storage?.getItem(STORAGE_KEY);
    if (raw === null || raw === undefined) return false;
    const saved = JSON.parse(raw) as { userId: string; username: string; refresh: string };
    this.#held = { ...saved, access: '', accessExpiresAt: 0, refreshes: 0 };
    return this.refresh();
  }

  /** Refreshes now (one refresh at a time); false when it ended signed out. */
  refresh(): Promise<boolean> {
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async signOut(reason = 'signed out'): Promise<void> {
    const refresh = this.#held?.refresh;
    this.#drop(reason);
    if (refresh !== undefined) await this.options.auth.logout({ refreshToken: refresh });
  }

  close(): void {
    this.options.timers.clearTimeout(this.#timer);
  }

  async #refresh(): Promise<boolean> {
    for (;;) {
      const held = this.#held;
      if (held === undefined) return false;
      try {
        const response = await this.options.auth.refresh({ refreshToken: held.refresh });
        if (this.#held !== held) return this.#held !== undefined;
        if (response.tokens === undefined) throw new Error('refresh answered without tokens');
        this.#retries.reset();
        this.#hold(held.userId, held.username, response.tokens, held.refreshes + 1);
        this.options.onRotated(response.tokens.accessToken);
        return true;
      } catch (error) {
        if (this.#held !== held) return this.#held !== undefined;
        const code = ConnectError.from(error).code;
        if (FINAL.has(code) || this.#retries.attempt >= this.options.maxRefreshRetries) {
          this.#drop(`session expired: ${ConnectError.from(error).rawMessage}`);
          return false;
        }
        await new Promise<void>((resolve) => {
          this.#timer = this.options.timers.setTimeout(resolve, this.#retries.next());
        });
      }
    }
  }

  #hold(userId: string, username: string, tokens: TokenPair, refreshes: number): void {
    const { timers } = this.options;
    const now = timers.now();
    const accessExpiresAt =
      tokens.accessTokenExpiresAt === undefined
        ? now + 60_000
        : timestampMs(tokens.accessTokenExpiresAt);
    this.#held = {
      userId,
      username,
      access: tokens.accessToken,
      accessExpiresAt,
      refresh: tokens.refreshToken,
      refreshes,
    };
    this.options.storage?.setItem(
      STORAGE_KEY,
      JSON.stringify({ userId, username, refresh: tokens.refreshToken }),
    );
    const lifetime = Math.max(0, accessExpiresAt - now);
    const margin = Math.min(this.options.refreshMarginMs, lifetime / 5);
    timers.clearTimeout(this.#timer);
    this.#timer = timers.setTimeout(() => void this.refresh(), Math.max(0, lifetime - margin));
    this.#set({ status: 'signed-in', userId, username, accessExpiresAt, refreshes });
  }

  #drop(reason: string): void {
    this.options.timers.clearTimeout(this.#timer);
    this.#held = undefined;
    this.options.storage?.removeItem(STORAGE_KEY);
    this.#set({ status: 'signed-out', reason });
  }

  #set(state: AuthState): void {
    this.#state = state;
    this.options.onChange(state);
  }
}
