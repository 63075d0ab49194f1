import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import {
  instrumentationList,
  resourceAttributes,
  selectInstrumentations,
  type InstrumentationName,
} from './otel-env.js';

/**
 * All configuration, read once from the environment, validated, typed and frozen.
 * Nothing else in the codebase reads `process.env` (lint enforces it).
 */

export const ROLES = ['all', 'api', 'stream', 'engine'] as const;
export type Role = (typeof ROLES)[number];

/** off: plaintext; files: the TLS_*_FILE certificates; dev: a development CA made at start-up. */
export const TLS_MODES = ['off', 'files', 'dev'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

/** The PEM files of every listener and of the internal client, and how they are kept fresh. */
export interface TlsSettings {
  readonly mode: Exclude<TlsMode, 'off'>;
  readonly certFile: string;
  readonly keyFile: string;
  /** Internal calls: the engine requires client certificates signed by it, the api trusts it. */
  readonly caFile: string | undefined;
  /** With mode dev: where the development CA and certificates are made (and reused). */
  readonly devDir: string | undefined;
  /** How often the files are checked for a rotation; 0 never. */
  readonly reloadIntervalMs: number;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The standard `OTEL_TRACES_SAMPLER` values (the OpenTelemetry SDK environment spec). */
export const SAMPLER_NAMES = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

export interface SamplerSettings {
  readonly name: (typeof SAMPLER_NAMES)[number];
  /** The share of new traces sampled by the ratio samplers, 0 to 1 (`OTEL_TRACES_SAMPLER_ARG`). */
  readonly ratio: number;
}

const port = (fallback: number) =>
  z.coerce
    .number({ error: 'expected a whole number from 0 to 65535' })
    .int({ error: 'expected a whole number from 0 to 65535' })
    .min(0, { error: 'expected a whole number from 0 to 65535' })
    .max(65535, { error: 'expected a whole number from 0 to 65535' })
    .default(fallback);

const millis = (fallback: number, max = 3_600_000) =>
  z.coerce
    .number({ error: `expected milliseconds, a whole number from 0 to ${max}` })
    .int({ error: `expected milliseconds, a whole number from 0 to ${max}` })
    .min(0, { error: `expected milliseconds, a whole number from 0 to ${max}` })
    .max(max, { error: `expected milliseconds, a whole number from 0 to ${max}` })
    .default(fallback);

const url = (protocols: readonly string[]) =>
  z
    .string()
    .trim()
    .refine(
      (value) => {
        try {
          return protocols.includes(new URL(value).protocol);
        } catch {
          return false;
        }
      },
      { error: `expected a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
    );

/** An origin exactly as a browser sends it: scheme, host and port only. */
function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return ['http:', 'https:'].includes(url.protocol) && url.origin === value;
  } catch {
    return false;
  }
}

/** An address, or a network in CIDR notation with a prefix of at least 1 (`10.0.0.0/16`). */
function isAddressOrCidr(value: string): boolean {
  const [address = '', prefix, ...rest] = value.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  const bits = Number(prefix);
  return /^\d+$/.test(prefix) && bits >= 1 && bits <= (family === 4 ? 32 : 128);
}

const filePath = z
  .string()
  .trim()
  .min(1)
  .refine((path) => existsSync(path), { error: 'file does not exist' });

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0'], { error: 'expected true or false' })
    .default(fallback ? 'true' : 'false')
    .transform((value) => value === 'true' || value === '1');

const positiveInt = (fallback: number, max = 1_000_000_000) =>
  z.coerce
    .number({ error: `expected a whole number from 1 to ${max}` })
    .int({ error: `expected a whole number from 1 to ${max}` })
    .min(1, { error: `expected a whole number from 1 to ${max}` })
    .max(max, { error: `expected a whole number from 1 to ${max}` })
    .default(fallback);

/** A size in bytes, a whole number from `min` to `max`. */
const byteSize = (fallback: number, min: number, max: number) => {
  const error = `expected a whole number of bytes from ${min} to ${max}`;
  return z.coerce
    .number({ error })
    .int({ error })
    .min(min, { error })
    .max(max, { error })
    .default(fallback);
};

/** `NAME=INTEGER,NAME=INTEGER`, e.g. `USD=100000000,BTC=100000000`. */
const integerMap = (fallback: string, what: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const entries: [string, bigint][] = [];
      for (const part of text
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p !== '')) {
        const match = /^([A-Za-z][A-Za-z0-9_]{0,31})=(\d{1,18})$/.exec(part);
        if (match?.[1] === undefined || match[2] === undefined) {
          ctx.addIssue({
            code: 'custom',
            message: `expected ${what} as NAME=INTEGER pairs separated by commas; "${part}" is not one`,
          });
          return z.NEVER;
        }
        entries.push([match[1], BigInt(match[2])]);
      }
      return Object.fromEntries(entries);
    });

/** Three rising whole numbers `A,B,C`: the bounds of the excellent, good and fair classes. */
const classBounds = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const parts = text.split(',').map((p) => Number(p.trim()));
      const [a, b, c] = parts;
      if (
        parts.length !== 3 ||
        !parts.every((n) => Number.isInteger(n) && n >= 0) ||
        a === undefined ||
        b === undefined ||
        c === undefined ||
        !(a < b && b < c)
      ) {
        ctx.addIssue({
          code: 'custom',
          message: `expected three rising whole numbers of milliseconds, excellent,good,fair (e.g. ${fallback})`,
        });
        return z.NEVER;
      }
      return { excellent: a, good: b, fair: c };
    });

const failureMode = (fallback: 'open' | 'closed') =>
  z.enum(['open', 'closed'], { error: 'expected open or closed' }).default(fallback);

const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

const envSchema = z.object({
  ROLE: z.enum(ROLES, { error: `expected one of ${ROLES.join(', ')}` }).default('all'),
  HOST: z.string().trim().min(1).default('0.0.0.0'),
  HTTP_PORT: port(8080),
  WEB_ASSETS_DIR: z.string().trim().default('dist/web'),
  CORS_ORIGINS: z
    .string()
    .default('')
    .transform((text) =>
      text
        .split(',')
        .map((origin) => origin.trim())
        .filter((origin) => origin !== ''),
    )
    .refine((origins) => origins.every(isOrigin), {
      error: 'expected a comma-separated list of origins such as https://app.example.com',
    }),
  TRUSTED_PROXIES: z
    .string()
    .default('')
    .transform((text) =>
      text
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry !== ''),
    )
    .refine((entries) => entries.every(isAddressOrCidr), {
      error: 'expected a comma-separated list of addresses or CIDR networks such as 10.0.0.0/16',
    }),
  GRPC_PORT: port(50051),
  HTTP_REQUEST_TIMEOUT_MS: positiveInt(30_000, 600_000),
  HTTP_IDLE_TIMEOUT_MS: positiveInt(72_000, 3_600_000),
  HTTP_MAX_REQUEST_BYTES: positiveInt(1_048_576, 64 * 1_048_576),
  GRPC_KEEPALIVE_TIME_MS: millis(60_000, 86_400_000),
  GRPC_KEEPALIVE_TIMEOUT_MS: positiveInt(20_000, 600_000),
  GRPC_MAX_CONNECTION_IDLE_MS: millis(300_000, 86_400_000),
  GRPC_MAX_CONNECTION_AGE_MS: millis(0, 86_400_000 * 30),
  GRPC_MAX_CONNECTION_AGE_GRACE_MS: millis(30_000, 86_400_000),
  GRPC_TLS_HANDSHAKE_TIMEOUT_MS: positiveInt(10_000, 600_000),
  POD_NAME: z.string().trim().min(1).max(253).default(hostname()),
  LOG_LEVEL: z
    .enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` })
    .default('info'),
  DATABASE_URL: optional(url(['postgres:', 'postgresql:'])),
  REDIS_URL: optional(url(['redis:', 'rediss:'])),
  DATA_DIR: z.string().trim().min(1).default('.data'),
  TELEMETRY_ENABLED: bool(true),
  OTEL_EXPORTER_OTLP_ENDPOINT: optional(url(['http:', 'https:'])),
  OTEL_SERVICE_NAME: optional(z.string().trim().min(1)),
  OTEL_RESOURCE_ATTRIBUTES: resourceAttributes,
  OTEL_NODE_ENABLED_INSTRUMENTATIONS: instrumentationList,
  OTEL_NODE_DISABLED_INSTRUMENTATIONS: instrumentationList,
  OTEL_TRACES_SAMPLER: z
    .enum(SAMPLER_NAMES, { error: `expected one of ${SAMPLER_NAMES.join(', ')}` })
    .default('parentbased_always_on'),
  OTEL_TRACES_SAMPLER_ARG: z.coerce
    .number({ error: 'expected a ratio from 0 to 1' })
    .min(0, { error: 'expected a ratio from 0 to 1' })
    .max(1, { error: 'expected a ratio from 0 to 1' })
    .default(1),
  TLS_CERT_FILE: optional(filePath),
  TLS_KEY_FILE: optional(filePath),
  TLS_CA_FILE: optional(filePath),
  TLS_MODE: optional(z.enum(TLS_MODES, { error: `expected one of ${TLS_MODES.join(', ')}` })),
  TLS_DEV_DIR: optional(z.string().trim().min(1)),
  TLS_RELOAD_INTERVAL_MS: millis(10_000, 3_600_000).refine((ms) => ms === 0 || ms >= 100, {
    error: 'expected 0 (never reload) or at least 100 milliseconds',
  }),
  SHUTDOWN_DRAIN_DELAY_MS: millis(5_000, 600_000),
  SHUTDOWN_TIMEOUT_MS: millis(20_000, 600_000),
  READINESS_INTERVAL_MS: millis(1_000, 60_000),
  PG_SCHEMA: optional(
    z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, {
      error: 'expected a lower-case SQL identifier (letters, digits, _)',
    }),
  ),
  PG_POOL_MAX: positiveInt(10, 1_000),
  PG_CONNECT_TIMEOUT_MS: millis(5_000, 120_000),
  PG_IDLE_TIMEOUT_MS: millis(30_000),
  PG_STATEMENT_TIMEOUT_MS: millis(10_000),
  PG_QUERY_TIMEOUT_MS: millis(5_000, 120_000),
  REDIS_KEY_PREFIX: z.string().max(64).default('tp:'),
  REDIS_COMMAND_TIMEOUT_MS: millis(1_000, 60_000),
  AUTH_JWT_PRIVATE_KEY_FILE: optional(filePath),
  AUTH_JWT_PUBLIC_KEY_FILE: optional(filePath),
  AUTH_REQUIRE_KEY_FILES: bool(false),
  AUTH_ACCESS_TOKEN_TTL_S: positiveInt(900, 86_400),
  AUTH_REVOCATION_POLL_MS: positiveInt(1_000, 60_000),
  AUTH_REFRESH_TOKEN_TTL_S: positiveInt(30 * 86_400, 365 * 86_400),
  AUTH_ARGON2_MEMORY_KIB: positiveInt(19_456, 4_194_304),
  AUTH_ARGON2_TIME_COST: positiveInt(2, 100),
  AUTH_DEMO_BALANCES: integerMap('USD=100000000,BTC=100000000', 'demo balances in minor units'),
  LOGIN_USER_IP_BURST: positiveInt(10, 10_000),
  LOGIN_USER_IP_PER_MIN: positiveInt(5, 60_000),
  LOGIN_USER_BURST: positiveInt(100, 100_000),
  LOGIN_USER_PER_MIN: positiveInt(50, 600_000),
  LOGIN_IP_BURST: positiveInt(30, 100_000),
  LOGIN_IP_PER_MIN: positiveInt(30, 600_000),
  LOGIN_LIMIT_FAILURE_MODE: failureMode('closed'),
  REGISTER_IP_BURST: positiveInt(10, 100_000),
  REGISTER_IP_PER_MIN: positiveInt(2, 600_000),
  REGISTER_LIMIT_FAILURE_MODE: failureMode('closed'),
  REFRESH_IP_BURST: positiveInt(100, 1_000_000),
  REFRESH_IP_PER_MIN: positiveInt(300, 6_000_000),
  REFRESH_LIMIT_FAILURE_MODE: failureMode('open'),
  USER_RATE_PER_S: positiveInt(50, 1_000_000),
  USER_RATE_BURST: positiveInt(100, 1_000_000),
  USER_RATE_METHOD_COSTS: integerMap('ListOrders=5', 'per-method rate-limit costs'),
  USER_RATE_FAILURE_MODE: failureMode('open'),
  SUBSCRIBE_IP_BURST: positiveInt(200, 1_000_000),
  SUBSCRIBE_IP_PER_MIN: positiveInt(600, 6_000_000),
  SUBSCRIBE_LIMIT_FAILURE_MODE: failureMode('open'),
  ORDER_BOOK_IP_BURST: positiveInt(100, 1_000_000),
  ORDER_BOOK_IP_PER_MIN: positiveInt(1_200, 6_000_000),
  ORDER_BOOK_LIMIT_FAILURE_MODE: failureMode('open'),
  ENGINE_ADDRESS: optional(z.string().trim().min(1)),
  ENGINE_TIMEOUT_MS: millis(2_000, 60_000),
  ENGINE_LEADER_POLL_MS: millis(1_000, 60_000),
  ENGINE_LEADER_LEASE_MS: millis(5_000, 600_000),
  SIMULATOR_ENABLED: bool(true),
  SIMULATOR_RATE: positiveInt(5, 1_000),
  SIMULATOR_BOTS: positiveInt(4, 50),
  SIMULATOR_SEED: positiveInt(42, 4_294_967_295),
  STREAM_MAX_REPLAY: positiveInt(1_000, 100_000),
  STREAM_MAX_SUBSCRIPTIONS: positiveInt(20, 1_000),
  STREAM_MAX_PER_IP: positiveInt(100, 1_000_000),
  STREAM_SEND_QUEUE_MAX: positiveInt(4_096, 1_000_000),
  STREAM_SEND_QUEUE_CONFLATE_BYTES: positiveInt(256 * 1_024, 1_073_741_824),
  STREAM_SEND_QUEUE_MAX_BYTES: positiveInt(1_024 * 1_024, 1_073_741_824),
  STREAM_CONFLATE_INTERVAL_MS: millis(1_000, 60_000),
  STREAM_HEARTBEAT_INTERVAL_MS: millis(10_000, 600_000),
  STREAM_IDLE_TIMEOUT_MS: millis(35_000, 3_600_000),
  STREAM_QUALITY_RTT_MS: classBounds('50,150,400'),
  STREAM_QUALITY_JITTER_MS: classBounds('10,30,100'),
  STREAM_QUALITY_HYSTERESIS_PCT: z.coerce.number().int().min(0).max(90).default(20),
  STREAM_QUALITY_UPGRADE_SAMPLES: positiveInt(2, 100),
  STREAM_QUALITY_MISSED_POOR: positiveInt(2, 100),
  STREAM_QUALITY_MISSED_OFFLINE: positiveInt(3, 100),
  SESSION_TTL_S: positiveInt(86_400, 30 * 86_400),
  STREAM_DRAIN_WINDOW_MS: optional(millis(0, 600_000)),
  STREAM_DRAIN_LINGER_MS: millis(0, 600_000),
  WS_MAX_PAYLOAD_BYTES: positiveInt(65_536, 16 * 1_048_576),
  WS_MAX_SUBSCRIPTIONS: positiveInt(40, 10_000),
  WS_MAX_CONNECTIONS_PER_IP: positiveInt(100, 1_000_000),
  WS_FRAMES_PER_S: positiveInt(20, 100_000),
  WS_FRAMES_BURST: positiveInt(100, 100_000),
  // Below 16 KiB a client that keeps up would wait for its socket to flush after nearly every
  // write; the maximum bounds what one stalled socket can hold in this process.
  WS_SEND_HIGH_WATER_BYTES: byteSize(1_048_576, 16_384, 64 * 1_048_576),
});

export interface Config {
  readonly role: Role;
  readonly version: string;
  readonly podName: string;
  readonly serviceName: string;
  readonly http: {
    readonly host: string;
    readonly port: number;
    /** The built web app, served at `/` when it holds an index.html; '' serves none. */
    readonly webAssetsDir: string;
    /** Browser origins allowed to call Connect/gRPC-Web and open /ws besides the page's own. */
    readonly corsOrigins: readonly string[];
    /** Whole request within `requestTimeoutMs`; idle connections closed after `idleTimeoutMs`. */
    readonly limits: { readonly requestTimeoutMs: number; readonly idleTimeoutMs: number };
    /** Largest RPC request body on the HTTP port (Connect, gRPC-Web). */
    readonly maxRequestBytes: number;
  };
  readonly grpc: {
    readonly host: string;
    readonly port: number;
    readonly connections: GrpcConnectionLimits;
  };
  /**
   * Peers (a load balancer's networks) whose `X-Forwarded-For` names the client: the client
   * address is its rightmost hop not in these. Empty: the peer is the client.
   */
  readonly trustedProxies: readonly string[];
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly databaseUrl: string | undefined;
  readonly redisUrl: string | undefined;
  readonly dataDir: string;
  readonly telemetry: {
    readonly enabled: boolean;
    readonly otlpEndpoint: string | undefined;
    readonly sampler: SamplerSettings;
    /** Extra resource attributes from `OTEL_RESOURCE_ATTRIBUTES`. */
    readonly resourceAttributes: Readonly<Record<string, string>>;
    /** Instrumentations to register: enabled minus disabled. */
    readonly instrumentations: readonly InstrumentationName[];
  };
  readonly tls: TlsSettings | undefined;
  readonly shutdown: { readonly drainDelayMs: number; readonly timeoutMs: number };
  readonly readinessIntervalMs: number;
  readonly postgres: {
    /** Schema for every table (search_path); unset means the server default (public). */
    readonly schema: string | undefined;
    readonly poolMax: number;
    readonly connectTimeoutMs: number;
    readonly idleTimeoutMs: number;
    readonly statementTimeoutMs: number;
    readonly queryTimeoutMs: number;
  };
  readonly redis: { readonly keyPrefix: string; readonly commandTimeoutMs: number };
  readonly auth: {
    readonly privateKeyFile: string | undefined;
    readonly publicKeyFile: string | undefined;
    readonly accessTokenTtlSeconds: number;
    /** Every pod learns a logout or a revoked session within this (see RevokedSessions). */
    readonly revocationPollMs: number;
    readonly refreshTokenTtlSeconds: number;
    readonly argon2: { readonly memoryCost: number; readonly timeCost: number };
    readonly demoBalances: Readonly<Record<string, bigint>>;
  };
  readonly limits: {
    /** Per (username, client address): the owner's attempts from elsewhere are not counted. */
    readonly loginPerUserIp: RateLimitSetting;
    /** Per username from every address, looser than per (username, address). */
    readonly loginPerUser: RateLimitSetting;
    readonly loginPerIp: RateLimitSetting;
    readonly loginFailureMode: 'open' | 'closed';
    /** Registrations per client address: enough for people, a wall for a script. */
    readonly registerPerIp: RateLimitSetting;
    readonly registerFailureMode: 'open' | 'closed';
    /** Refresh and Logout calls per client address. */
    readonly refreshPerIp: RateLimitSetting;
    readonly refreshFailureMode: 'open' | 'closed';
    readonly perUser: RateLimitSetting;
    /** Cost of one call by method name (e.g. `ListOrders`); 1 when absent. */
    readonly methodCosts: Readonly<Record<string, number>>;
    readonly perUserFailureMode: 'open' | 'closed';
    /** Market data subscribes per client address, on every transport and pod. */
    readonly subscribePerIp: RateLimitSetting;
    readonly subscribeFailureMode: 'open' | 'closed';
    /** Order book snapshots (`GetOrderBook`) per client address, on every transport and pod. */
    readonly orderBookPerIp: RateLimitSetting;
    readonly orderBookFailureMode: 'open' | 'closed';
  };
  readonly engine: {
    /** grpc-js target of the engine (ROLE=api calls it; required there). */
    readonly address: string | undefined;
    /** Per attempt of an api → engine call, the commit included. */
    readonly timeoutMs: number;
    /** How often a standby engine tries to take a shard's leadership (and a leader renews). */
    readonly leaderPollMs: number;
    /** How long a leader that stopped renewing keeps the shard (a paused process loses it). */
    readonly leaderLeaseMs: number;
  };
  /** The built-in market simulator; it only ever runs in ROLE=all. */
  readonly simulator: {
    readonly enabled: boolean;
    /** Actions (places and cancels) per second, all bots together. */
    readonly ratePerSec: number;
    readonly bots: number;
    /** Same seed, same sequence of decisions. */
    readonly seed: number;
  };
  /** Market data and private streams (ROLE=stream and all). */
  readonly streams: {
    /** Most entries a resume replays; a client further behind gets a fresh snapshot. */
    readonly maxReplay: number;
    /** Streams one Subscribe call may ask for. */
    readonly maxSubscriptions: number;
    /**
     * Market data streams (Subscribe calls, /ws subscribe frames) one client address may hold
     * open on one process.
     */
    readonly maxPerIp: number;
    /** Messages waiting for a slow client before its stream is ended (RESOURCE_EXHAUSTED). */
    readonly sendQueueMax: number;
    /** How long a session record lives after its last stream opened. */
    readonly sessionTtlSeconds: number;
    /** On shutdown, streams are told to reconnect at delays spread over this window. */
    readonly drainWindowMs: number;
    /**
     * After the drain, how long at most /metrics keeps being served until a scrape has read
     * the drain's duration (0: exit at once).
     */
    readonly drainLingerMs: number;
    /** Bytes waiting for a client past which its book streams are conflated. */
    readonly sendQueueConflateBytes: number;
    /** Bytes waiting for a client past which it is disconnected (RESOURCE_EXHAUSTED). */
    readonly sendQueueMaxBytes: number;
    /** How often a conflated book stream sends its accumulated changes. */
    readonly conflateIntervalMs: number;
    readonly heartbeat: {
      readonly intervalMs: number;
      /** No pong for this long closes the stream. */
      readonly idleTimeoutMs: number;
    };
    /** Connection-quality classes (src/domain/streams/connection-quality.ts). */
    readonly quality: {
      readonly rttMs: { readonly excellent: number; readonly good: number; readonly fair: number };
      readonly jitterMs: {
        readonly excellent: number;
        readonly good: number;
        readonly fair: number;
      };
      /** 0.2: a better class needs figures 20 % under its bounds. */
      readonly hysteresis: number;
      readonly upgradeSamples: number;
      readonly missedForPoor: number;
      readonly missedForOffline: number;
    };
  };
  /** The WebSocket transport at /ws (ROLE=stream and all). */
  readonly websocket: {
    /** Largest frame a client may send; a larger one closes the connection (1009). */
    readonly maxPayloadBytes: number;
    /** Streams one connection may have open, over all its subscribe frames. */
    readonly maxSubscriptions: number;
    /** Connections one client address may hold open on one process. */
    readonly maxConnectionsPerIp: number;
    /** Frames a client may send: a token bucket per connection. */
    readonly frames: RateLimitSetting;
    /**
     * Bytes waiting in one socket past which its streams stop writing until it flushes, so a
     * slow client backs up into the gateway's send queue (conflated, then cut) instead.
     */
    readonly sendHighWaterBytes: number;
  };
}

/** How long the gRPC port holds a connection; `undefined` means no limit. */
export interface GrpcConnectionLimits {
  /** The server pings each connection this often; no answer within the timeout closes it. */
  readonly keepaliveTimeMs: number | undefined;
  readonly keepaliveTimeoutMs: number;
  /** A connection with no call in progress for this long gets GOAWAY. */
  readonly maxIdleMs: number | undefined;
  /** Any connection gets GOAWAY at this age, then its calls have the grace period to finish. */
  readonly maxAgeMs: number | undefined;
  readonly maxAgeGraceMs: number;
  /** A TLS connection must complete its handshake within this. */
  readonly tlsHandshakeTimeoutMs: number;
}

export interface RateLimitSetting {
  readonly ratePerSec: number;
  readonly burst: number;
}

/** Raised when the environment is invalid; its message names every bad variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Quotes a bad value for the error message, hiding any password inside a URL. */
const describeValue = (value: unknown): string =>
  value === undefined
    ? '(unset)'
    : JSON.stringify(value).replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');

function readVersion(): string {
  const raw: unknown = JSON.parse(
    readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
  );
  const parsed = z.object({ version: z.string() }).safeParse(raw);
  return parsed.success ? parsed.data.version : '0.0.0';
}

function tlsSettings(mode: TlsMode, e: z.output<typeof envSchema>): TlsSettings | undefined {
  const reloadIntervalMs = e.TLS_RELOAD_INTERVAL_MS;
  if (mode === 'off') return undefined;
  if (mode === 'dev') {
    // The files are made at start-up (or reused if still good), so processes sharing the
    // directory share the CA, and buf curl or a browser can be pointed at its ca.crt.
    const devDir = e.TLS_DEV_DIR ?? join(e.DATA_DIR, 'tls');
    return {
      mode,
      certFile: join(devDir, 'server.crt'),
      keyFile: join(devDir, 'server.key'),
      caFile: join(devDir, 'ca.crt'),
      devDir,
      reloadIntervalMs,
    };
  }
  return {
    mode,
    certFile: e.TLS_CERT_FILE ?? '',
    keyFile: e.TLS_KEY_FILE ?? '',
    caFile: e.TLS_CA_FILE,
    devDir: undefined,
    reloadIntervalMs,
  };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = issue.path.map(String).join('.');
        return `${name}=${describeValue(env[name])}: ${issue.message}`;
      }),
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  if ((e.TLS_CERT_FILE === undefined) !== (e.TLS_KEY_FILE === undefined)) {
    problems.push('TLS_CERT_FILE and TLS_KEY_FILE: set both or neither');
  }
  const tlsMode = e.TLS_MODE ?? (e.TLS_CERT_FILE === undefined ? 'off' : 'files');
  if (tlsMode === 'files' && e.TLS_CERT_FILE === undefined) {
    problems.push('TLS_MODE=files: set TLS_CERT_FILE and TLS_KEY_FILE');
  }
  if (tlsMode !== 'files' && e.TLS_CERT_FILE !== undefined) {
    problems.push(`TLS_MODE=${tlsMode}: TLS_CERT_FILE is set; use TLS_MODE=files or unset it`);
  }
  for (const [method, cost] of Object.entries(e.USER_RATE_METHOD_COSTS)) {
    if (cost > BigInt(e.USER_RATE_BURST)) {
      problems.push(
        `USER_RATE_METHOD_COSTS: ${method} costs ${cost}, more than USER_RATE_BURST (${e.USER_RATE_BURST}), so it could never be called`,
      );
    }
  }
  problems.push(...loginLimitProblems(e));
  if (e.HTTP_PORT !== 0 && e.HTTP_PORT === e.GRPC_PORT) {
    problems.push(`HTTP_PORT and GRPC_PORT are both ${e.HTTP_PORT}: they must differ`);
  }
  if (e.ROLE === 'api' && e.ENGINE_ADDRESS === undefined) {
    problems.push(
      'ENGINE_ADDRESS=(unset): ROLE=api calls the engine over gRPC; set its address (e.g. engine:50051)',
    );
  }
  if (e.ENGINE_LEADER_LEASE_MS < 2 * e.ENGINE_LEADER_POLL_MS) {
    problems.push(
      `ENGINE_LEADER_LEASE_MS="${e.ENGINE_LEADER_LEASE_MS}": must be at least twice ENGINE_LEADER_POLL_MS (${e.ENGINE_LEADER_POLL_MS}), or a leader renewing on time could lose its lease`,
    );
  }
  if (e.SIMULATOR_BOTS < 2) {
    problems.push(
      `SIMULATOR_BOTS="${e.SIMULATOR_BOTS}": expected at least 2 bots, so they have someone to trade with`,
    );
  }
  const drainWindowMs = e.STREAM_DRAIN_WINDOW_MS ?? Math.floor(e.SHUTDOWN_TIMEOUT_MS / 2);
  if (drainWindowMs > e.SHUTDOWN_TIMEOUT_MS / 2) {
    problems.push(
      `STREAM_DRAIN_WINDOW_MS="${drainWindowMs}": at most half of SHUTDOWN_TIMEOUT_MS (${e.SHUTDOWN_TIMEOUT_MS}), so servers, shards and pools still close within the deadline after the streams are drained`,
    );
  }
  problems.push(...drainLingerProblems(e, drainWindowMs));
  problems.push(...streamProblems(e));
  // Several processes each with a development key reject each other's tokens.
  // A stream pod verifies tokens only: the public key is all it needs.
  const verifiesOnly = e.ROLE === 'stream' && e.AUTH_JWT_PUBLIC_KEY_FILE !== undefined;
  if (e.AUTH_REQUIRE_KEY_FILES && e.AUTH_JWT_PRIVATE_KEY_FILE === undefined && !verifiesOnly) {
    problems.push(
      'AUTH_JWT_PRIVATE_KEY_FILE=(unset): AUTH_REQUIRE_KEY_FILES=true needs the shared Ed25519 signing key (and AUTH_JWT_PUBLIC_KEY_FILE), not a per-process development key',
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const config: Config = {
    role: e.ROLE,
    version: readVersion(),
    podName: e.POD_NAME,
    // OTEL_SERVICE_NAME wins over a service.name in OTEL_RESOURCE_ATTRIBUTES (the OTel spec).
    serviceName:
      e.OTEL_SERVICE_NAME ?? e.OTEL_RESOURCE_ATTRIBUTES['service.name'] ?? 'trading-platform',
    http: {
      host: e.HOST,
      port: e.HTTP_PORT,
      webAssetsDir: e.WEB_ASSETS_DIR,
      corsOrigins: e.CORS_ORIGINS,
      limits: {
        requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
        idleTimeoutMs: e.HTTP_IDLE_TIMEOUT_MS,
      },
      maxRequestBytes: e.HTTP_MAX_REQUEST_BYTES,
    },
    grpc: {
      host: e.HOST,
      port: e.GRPC_PORT,
      connections: {
        keepaliveTimeMs: unlessZero(e.GRPC_KEEPALIVE_TIME_MS),
        keepaliveTimeoutMs: e.GRPC_KEEPALIVE_TIMEOUT_MS,
        maxIdleMs: unlessZero(e.GRPC_MAX_CONNECTION_IDLE_MS),
        maxAgeMs: unlessZero(e.GRPC_MAX_CONNECTION_AGE_MS),
        maxAgeGraceMs: e.GRPC_MAX_CONNECTION_AGE_GRACE_MS,
        tlsHandshakeTimeoutMs: e.GRPC_TLS_HANDSHAKE_TIMEOUT_MS,
      },
    },
    trustedProxies: e.TRUSTED_PROXIES,
    logLevel: e.LOG_LEVEL,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    dataDir: e.DATA_DIR,
    telemetry: {
      enabled: e.TELEMETRY_ENABLED,
      otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
      sampler: { name: e.OTEL_TRACES_SAMPLER, ratio: e.OTEL_TRACES_SAMPLER_ARG },
      resourceAttributes: e.OTEL_RESOURCE_ATTRIBUTES,
      instrumentations: selectInstrumentations(
        e.OTEL_NODE_ENABLED_INSTRUMENTATIONS,
        e.OTEL_NODE_DISABLED_INSTRUMENTATIONS,
      ),
    },
    tls: tlsSettings(tlsMode, e),
    shutdown: { drainDelayMs: e.SHUTDOWN_DRAIN_DELAY_MS, timeoutMs: e.SHUTDOWN_TIMEOUT_MS },
    readinessIntervalMs: e.READINESS_INTERVAL_MS,
    postgres: {
      schema: e.PG_SCHEMA,
      poolMax: e.PG_POOL_MAX,
      connectTimeoutMs: e.PG_CONNECT_TIMEOUT_MS,
      idleTimeoutMs: e.PG_IDLE_TIMEOUT_MS,
      statementTimeoutMs: e.PG_STATEMENT_TIMEOUT_MS,
      queryTimeoutMs: e.PG_QUERY_TIMEOUT_MS,
    },
    redis: { keyPrefix: e.REDIS_KEY_PREFIX, commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS },
    auth: {
      privateKeyFile: e.AUTH_JWT_PRIVATE_KEY_FILE,
      publicKeyFile: e.AUTH_JWT_PUBLIC_KEY_FILE,
      accessTokenTtlSeconds: e.AUTH_ACCESS_TOKEN_TTL_S,
      revocationPollMs: e.AUTH_REVOCATION_POLL_MS,
      refreshTokenTtlSeconds: e.AUTH_REFRESH_TOKEN_TTL_S,
      argon2: { memoryCost: e.AUTH_ARGON2_MEMORY_KIB, timeCost: e.AUTH_ARGON2_TIME_COST },
      demoBalances: e.AUTH_DEMO_BALANCES,
    },
    limits: {
      loginPerUserIp: { ratePerSec: e.LOGIN_USER_IP_PER_MIN / 60, burst: e.LOGIN_USER_IP_BURST },
      loginPerUser: { ratePerSec: e.LOGIN_USER_PER_MIN / 60, burst: e.LOGIN_USER_BURST },
      loginPerIp: { ratePerSec: e.LOGIN_IP_PER_MIN / 60, burst: e.LOGIN_IP_BURST },
      loginFailureMode: e.LOGIN_LIMIT_FAILURE_MODE,
      registerPerIp: { ratePerSec: e.REGISTER_IP_PER_MIN / 60, burst: e.REGISTER_IP_BURST },
      registerFailureMode: e.REGISTER_LIMIT_FAILURE_MODE,
      refreshPerIp: { ratePerSec: e.REFRESH_IP_PER_MIN / 60, burst: e.REFRESH_IP_BURST },
      refreshFailureMode: e.REFRESH_LIMIT_FAILURE_MODE,
      perUser: { ratePerSec: e.USER_RATE_PER_S, burst: e.USER_RATE_BURST },
      methodCosts: Object.fromEntries(
        Object.entries(e.USER_RATE_METHOD_COSTS).map(([method, cost]) => [method, Number(cost)]),
      ),
      perUserFailureMode: e.USER_RATE_FAILURE_MODE,
      subscribePerIp: { ratePerSec: e.SUBSCRIBE_IP_PER_MIN / 60, burst: e.SUBSCRIBE_IP_BURST },
      subscribeFailureMode: e.SUBSCRIBE_LIMIT_FAILURE_MODE,
      orderBookPerIp: { ratePerSec: e.ORDER_BOOK_IP_PER_MIN / 60, burst: e.ORDER_BOOK_IP_BURST },
      orderBookFailureMode: e.ORDER_BOOK_LIMIT_FAILURE_MODE,
    },
    engine: {
      address: e.ENGINE_ADDRESS,
      timeoutMs: e.ENGINE_TIMEOUT_MS,
      leaderPollMs: e.ENGINE_LEADER_POLL_MS,
      leaderLeaseMs: e.ENGINE_LEADER_LEASE_MS,
    },
    simulator: {
      enabled: e.SIMULATOR_ENABLED,
      ratePerSec: e.SIMULATOR_RATE,
      bots: e.SIMULATOR_BOTS,
      seed: e.SIMULATOR_SEED,
    },
    streams: {
      maxReplay: e.STREAM_MAX_REPLAY,
      maxSubscriptions: e.STREAM_MAX_SUBSCRIPTIONS,
      maxPerIp: e.STREAM_MAX_PER_IP,
      sendQueueMax: e.STREAM_SEND_QUEUE_MAX,
      sessionTtlSeconds: e.SESSION_TTL_S,
      drainWindowMs,
      drainLingerMs: e.STREAM_DRAIN_LINGER_MS,
      sendQueueConflateBytes: e.STREAM_SEND_QUEUE_CONFLATE_BYTES,
      sendQueueMaxBytes: e.STREAM_SEND_QUEUE_MAX_BYTES,
      conflateIntervalMs: e.STREAM_CONFLATE_INTERVAL_MS,
      heartbeat: {
        intervalMs: e.STREAM_HEARTBEAT_INTERVAL_MS,
        idleTimeoutMs: e.STREAM_IDLE_TIMEOUT_MS,
      },
      quality: {
        rttMs: e.STREAM_QUALITY_RTT_MS,
        jitterMs: e.STREAM_QUALITY_JITTER_MS,
        hysteresis: e.STREAM_QUALITY_HYSTERESIS_PCT / 100,
        upgradeSamples: e.STREAM_QUALITY_UPGRADE_SAMPLES,
        missedForPoor: e.STREAM_QUALITY_MISSED_POOR,
        missedForOffline: e.STREAM_QUALITY_MISSED_OFFLINE,
      },
    },
    websocket: {
      maxPayloadBytes: e.WS_MAX_PAYLOAD_BYTES,
      maxSubscriptions: e.WS_MAX_SUBSCRIPTIONS,
      maxConnectionsPerIp: e.WS_MAX_CONNECTIONS_PER_IP,
      frames: { ratePerSec: e.WS_FRAMES_PER_S, burst: e.WS_FRAMES_BURST },
      sendHighWaterBytes: e.WS_SEND_HIGH_WATER_BYTES,
    },
  };
  return deepFreeze(config);
}

/** What closing the servers, shards and pools keeps of the shutdown deadline after a linger. */
const CLOSE_RESERVE_MS = 10_000;

/**
 * The drain and the linger after it share the shutdown deadline with everything that closes
 * after them, which keeps half of it (as the window alone does), or 10 s of a long one.
 */
function drainLingerProblems(e: z.output<typeof envSchema>, drainWindowMs: number): string[] {
  const linger = e.STREAM_DRAIN_LINGER_MS;
  if (linger === 0) return [];
  const reserve = Math.min(Math.floor(e.SHUTDOWN_TIMEOUT_MS / 2), CLOSE_RESERVE_MS);
  const max = e.SHUTDOWN_TIMEOUT_MS - reserve - drainWindowMs;
  if (linger <= max) return [];
  return [
    `STREAM_DRAIN_LINGER_MS="${linger}": at most ${Math.max(0, max)} here, SHUTDOWN_TIMEOUT_MS (${e.SHUTDOWN_TIMEOUT_MS}) less the stream drain window (${drainWindowMs}) and ${reserve} ms for servers, shards and pools to close; raise SHUTDOWN_TIMEOUT_MS or shorten STREAM_DRAIN_WINDOW_MS`,
  ];
}

function streamProblems(e: z.output<typeof envSchema>): string[] {
  const problems: string[] = [];
  if (e.STREAM_SEND_QUEUE_CONFLATE_BYTES >= e.STREAM_SEND_QUEUE_MAX_BYTES) {
    problems.push(
      `STREAM_SEND_QUEUE_CONFLATE_BYTES (${e.STREAM_SEND_QUEUE_CONFLATE_BYTES}) must be below STREAM_SEND_QUEUE_MAX_BYTES (${e.STREAM_SEND_QUEUE_MAX_BYTES}): conflation is the step before a disconnect`,
    );
  }
  if (e.STREAM_IDLE_TIMEOUT_MS <= e.STREAM_HEARTBEAT_INTERVAL_MS) {
    problems.push(
      `STREAM_IDLE_TIMEOUT_MS (${e.STREAM_IDLE_TIMEOUT_MS}) must be longer than STREAM_HEARTBEAT_INTERVAL_MS (${e.STREAM_HEARTBEAT_INTERVAL_MS}), or every stream closes before its first pong`,
    );
  }
  if (e.STREAM_QUALITY_MISSED_OFFLINE <= e.STREAM_QUALITY_MISSED_POOR) {
    problems.push(
      `STREAM_QUALITY_MISSED_OFFLINE (${e.STREAM_QUALITY_MISSED_OFFLINE}) must be above STREAM_QUALITY_MISSED_POOR (${e.STREAM_QUALITY_MISSED_POOR})`,
    );
  }
  if (e.SUBSCRIBE_IP_BURST < e.STREAM_MAX_PER_IP) {
    problems.push(
      `SUBSCRIBE_IP_BURST="${e.SUBSCRIBE_IP_BURST}": must be at least STREAM_MAX_PER_IP (${e.STREAM_MAX_PER_IP}), or an address's streams could not all resubscribe at once after a pod is drained`,
    );
  }
  return problems;
}

/** 0 turns a limit off. */
const unlessZero = (value: number): number | undefined => (value === 0 ? undefined : value);

/**
 * One address must never exhaust a username's limit across all addresses, or it could lock the
 * owner out again: that needs a larger burst and a rate at least as high as per address.
 */
function loginLimitProblems(e: z.output<typeof envSchema>): string[] {
  const problems: string[] = [];
  if (e.LOGIN_USER_BURST <= e.LOGIN_USER_IP_BURST) {
    problems.push(
      `LOGIN_USER_BURST="${e.LOGIN_USER_BURST}": must exceed LOGIN_USER_IP_BURST (${e.LOGIN_USER_IP_BURST}), or one address could lock a user out`,
    );
  }
  if (e.LOGIN_USER_PER_MIN < e.LOGIN_USER_IP_PER_MIN) {
    problems.push(
      `LOGIN_USER_PER_MIN="${e.LOGIN_USER_PER_MIN}": must be at least LOGIN_USER_IP_PER_MIN (${e.LOGIN_USER_IP_PER_MIN}), or one address could lock a user out`,
    );
  }
  return problems;
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (typeof child === 'object' && child !== null) deepFreeze(child);
  }
  return Object.freeze(value);
}
