import { counter, gauge, type Registry } from '../../telemetry/index.js';

export const LOGIN_RESULTS = [
  'success',
  'invalid_credentials',
  'invalid_argument',
  'throttled',
] as const;
export const REFRESH_RESULTS = [
  'success',
  'invalid',
  'expired',
  'revoked',
  'reuse_detected',
] as const;

export type LoginResult = (typeof LOGIN_RESULTS)[number];
export type RefreshResult = (typeof REFRESH_RESULTS)[number];

export function authMetrics(registry: Registry, activeSessions: () => Promise<number>) {
  const logins = counter(registry, {
    name: 'auth_logins_total',
    help: 'Login attempts by result.',
    labelNames: ['result'] as const,
  });
  const refreshes = counter(registry, {
    name: 'auth_token_refreshes_total',
    help: 'Refresh token rotations by result; reuse_detected revokes a whole session.',
    labelNames: ['result'] as const,
  });
  for (const result of LOGIN_RESULTS) logins.inc({ result }, 0);
  for (const result of REFRESH_RESULTS) refreshes.inc({ result }, 0);
  gauge(registry, {
    name: 'auth_active_sessions',
    help: 'Sessions (refresh token families) with a live refresh token.',
    // Read at scrape time. When the database cannot answer, keep the last value: a scrape
    // must never fail because of a dependency (that is what dependency_up is for).
    async collect() {
      try {
        this.set(await activeSessions());
      } catch {
        // keep the previous value
      }
    },
  });
  return {
    login: (result: LoginResult) => {
      logins.inc({ result });
    },
    refresh: (result: RefreshResult) => {
      refreshes.inc({ result });
    },
  };
}
