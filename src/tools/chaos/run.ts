import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { AuthService } from '../../gen/trading/v1/auth_pb.js';
import { OrderService } from '../../gen/trading/v1/orders_pb.js';
import { DEFAULT_ORDERS_SETTINGS } from '../../wiring/orders.js';
import { topChecksum } from './client-book.js';
import { freePort, LocalCluster, type Role, type Slot } from './cluster.js';
import { bearer, grpcClient, unary } from './grpc-calls.js';
import { killSchedule, type KillSignal } from './kill-schedule.js';
import { checkLedger, type LedgerReport } from './ledger.js';
import { observeRun, queryWindow, type Observation } from './observation.js';
import { checkPrivateStream, privateMismatches } from './private-check.js';
import { ChaosPrometheus, prometheusInstalled, type ScrapeTarget } from './prometheus.js';
import { STREAM_TRANSPORTS, type StreamTransport } from './stream-transports.js';
import { sdkOrderGateway, sdkTraderClient } from './sdk-orders.js';
import { Subscriber } from './subscriber.js';
import { grpcOrderGateway, Trader, type OrderGateway } from './trader.js';

/** `auto`: observe with Prometheus when the binary is installed; `on`: fail without it. */
export type PrometheusMode = 'auto' | 'on' | 'off';

/**
 * How the traders reach the api pods: the client SDK (Connect over HTTP), plain gRPC, or `mix`
 * (even traders the SDK, odd ones gRPC).
 */
export const TRADER_TRANSPORTS = ['sdk', 'grpc', 'mix'] as const;
export type TraderTransport = (typeof TRADER_TRANSPORTS)[number];

export interface ChaosOptions {
  readonly kills: number;
  readonly durationS: number;
  readonly seed: number;
  /** Share of kills that are SIGKILL (the rest SIGTERM). */
  readonly sigkillShare: number;
  readonly traders: number;
  readonly marketSubscribers: number;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  /** Keep the schema, Redis keys and pod logs after the run (for a post-mortem). */
  readonly keep: boolean;
  /** Stream subscribers take these in turn (market and private ones each). */
  readonly transports: readonly StreamTransport[];
  readonly prometheus: PrometheusMode;
  /** Every alert rule's `for:` set to this for the run (e.g. `10s`); shipped when absent. */
  readonly alertFor?: string;
  readonly tradersTransport: TraderTransport;
}

export const DEFAULT_CHAOS_OPTIONS: ChaosOptions = {
  kills: 10,
  durationS: 60,
  seed: 1,
  sigkillShare: 0.5,
  traders: 6,
  marketSubscribers: 4,
  databaseUrl: 'postgres://postgres@127.0.0.1:5432/test',
  redisUrl: 'redis://127.0.0.1:6379',
  keep: false,
  transports: STREAM_TRANSPORTS,
  prometheus: 'auto',
  tradersTransport: 'sdk',
};

/** The invariants of the subscribers of one transport. */
export interface TransportReport {
  readonly subscribers: number;
  readonly messages: number;
  readonly stream_gaps: number;
  readonly stream_duplicates: number;
  readonly checksum_mismatches: number;
  readonly books_mismatched: number;
  readonly streams_behind: number;
  readonly private_mismatches: number;
  readonly resumes: number;
  readonly resumes_not_recovered: number;
  readonly migrations: number;
  readonly resume_p99_ms: number;
}

/** What the traders over one transport did. */
export interface TraderTransportReport {
  readonly traders: number;
  readonly acked_orders: number;
  readonly call_retries: number;
  readonly calls_abandoned: number;
}

export interface ChaosReport {
  readonly seed: number;
  readonly duration_s: number;
  readonly kills: number;
  readonly kills_by: Record<string, number>;
  readonly engine_leader_kills: number;
  readonly engine_takeovers: number;
  readonly takeover_max_ms: number;
  readonly acked_orders: number;
  readonly acked_orders_lost: number;
  readonly acks_conflicting: number;
  readonly orders_duplicated: number;
  readonly fills_duplicated: number;
  readonly trade_ids_broken: number;
  readonly balances_conserved: boolean;
  readonly reservations_mismatched: number;
  readonly stream_gaps: number;
  readonly stream_duplicates: number;
  readonly checksum_mismatches: number;
  readonly books_mismatched: number;
  readonly streams_behind: number;
  /** Fills, order states and final balances where a private stream and PostgreSQL differ. */
  readonly private_mismatches: number;
  readonly transports: Record<string, TransportReport>;
  readonly resumes: number;
  readonly resumes_not_recovered: number;
  readonly migrations: number;
  readonly stream_pod_kills: number;
  readonly resume_p50_ms: number;
  readonly resume_p99_ms: number;
  readonly resume_max_ms: number;
  readonly orders_per_s: number;
  readonly messages_per_s: number;
  readonly calls_abandoned: number;
  /** Why each abandoned call last failed (`CODE: message`), distinct, with counts. */
  readonly calls_abandoned_by: Record<string, number>;
  readonly call_retries: number;
  readonly traders_transport: TraderTransport;
  /** The traders' calls by the transport they went over (`sdk`, `grpc`). */
  readonly traders_by_transport: Record<string, TraderTransportReport>;
  /** Whether Prometheus watched the run: `observed`, `not installed` or `off`. */
  readonly prometheus: string;
  /** Alert names that fired during the run; null without Prometheus. */
  readonly alerts_fired: string[] | null;
  /** Alert names whose condition held, but not for their `for:`. */
  readonly alerts_pending: string[] | null;
  /** Panels of the Sessions & pod migrations and Connection quality dashboards that moved. */
  readonly panels_moved: number | null;
  readonly panels_total: number | null;
  /** Those that did not, as "Dashboard / Panel". */
  readonly panels_still: string[] | null;
  readonly annotations_marked: string[] | null;
  /** Dashboard queries Prometheus refused: must be empty. */
  readonly dashboard_query_errors: string[];
  readonly log_dir: string | undefined;
}

const [DEFAULT_MARKET] = DEFAULT_ORDERS_SETTINGS.markets;
if (DEFAULT_MARKET === undefined) throw new Error('no default market');
const MARKET = { ...DEFAULT_MARKET, symbol: DEFAULT_MARKET.spec.symbol };
const DEMO = new Map([
  ['USD', 1_000_000_000_000n],
  ['BTC', 100_000_000_000n],
]);
const ROLES: readonly Role[] = ['engine', 'api', 'stream'];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const percentile = (values: readonly number[], p: number): number => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? 0);
};

/**
 * Runs a local cluster (2 api, 2 stream, an engine leader and a standby) on one fresh schema
 * and Redis prefix, puts order load and stream subscribers on it, kills processes on a seeded
 * schedule while restarting each as a new pod, then checks what must hold.
 */
export async function runChaos(
  options: ChaosOptions,
  say: (line: string) => void,
): Promise<ChaosReport> {
  const schema = `chaos_${options.seed}_${Date.now().toString(36)}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'tp-chaos-'));
  const logDir = join(dataDir, 'logs');
  await mkdir(logDir);
  // A drained stream pod waits for Prometheus to read its drain, as in Kubernetes; with no
  // Prometheus it would only wait out the bound.
  const watched = options.prometheus !== 'off' && prometheusInstalled();
  const cluster = new LocalCluster(
    {
      DATABASE_URL: options.databaseUrl,
      PG_SCHEMA: schema,
      PG_POOL_MAX: '4',
      REDIS_URL: options.redisUrl,
      REDIS_KEY_PREFIX: `${schema}:`,
      DATA_DIR: dataDir,
      AUTH_ARGON2_MEMORY_KIB: '1024',
      AUTH_ARGON2_TIME_COST: '1',
      AUTH_DEMO_BALANCES: [...DEMO].map(([asset, amount]) => `${asset}=${amount}`).join(','),
      REGISTER_IP_BURST: '100000',
      REGISTER_IP_PER_MIN: '600000',
      // Every SDK trader refreshes its tokens from 127.0.0.1.
      REFRESH_IP_BURST: '100000',
      REFRESH_IP_PER_MIN: '6000000',
      USER_RATE_PER_S: '100000',
      USER_RATE_BURST: '100000',
      // Every subscriber is 127.0.0.1, and each kill sends all of a pod's to resubscribe at once.
      STREAM_MAX_PER_IP: '100000',
      SUBSCRIBE_IP_BURST: '100000',
      SUBSCRIBE_IP_PER_MIN: '6000000',
      SHUTDOWN_DRAIN_DELAY_MS: '0',
      // The drain window as before (half of the default deadline), plus a linger of a few scrapes.
      SHUTDOWN_TIMEOUT_MS: '30000',
      STREAM_DRAIN_WINDOW_MS: '10000',
      STREAM_DRAIN_LINGER_MS: watched
        ? String(DRAIN_LINGER_SCRAPES * SCRAPE_INTERVAL_S * 1_000)
        : '0',
      SIMULATOR_ENABLED: 'false',
      ENGINE_LEADER_POLL_MS: '250',
      ENGINE_LEADER_LEASE_MS: '2000',
      ENGINE_TIMEOUT_MS: '2000',
      TELEMETRY_ENABLED: 'false',
      LOG_LEVEL: 'info',
    },
    logDir,
  );
  const db = new pg.Client({ connectionString: options.databaseUrl });
  const traders: Trader[] = [];
  const traderKinds = new Map<Trader, 'sdk' | 'grpc'>();
  const subscribers: Subscriber[] = [];
  const closers: (() => void)[] = [];
  let prometheus: ChaosPrometheus | undefined;
  let completed = false;
  try {
    for (const role of ROLES) {
      await cluster.add(`${role}-0`, role);
      await cluster.add(`${role}-1`, role);
    }
    const [engine0, ...others] = cluster.slots;
    if (engine0 === undefined) throw new Error('no engine slot');
    say(`chaos: schema ${schema}, seed ${options.seed}, logs in ${logDir}`);
    prometheus = await preparePrometheus(options, dataDir, cluster, say);
    // Prometheus starts while the pods do; a failure to start fails the run below.
    const watching = prometheus?.start(scrapeTargets(cluster));
    watching?.catch(() => undefined);
    await startOrRetry(cluster, engine0, say); // applies the migrations alone
    await Promise.all(others.map((slot) => startOrRetry(cluster, slot, say)));
    await watching;
    if (prometheus !== undefined) {
      const rules = options.alertFor === undefined ? 'shipped' : `every 'for:' ${options.alertFor}`;
      say(
        `chaos: prometheus at ${prometheus.url}, every ${SCRAPE_INTERVAL_S} s, ${rules} alert rules`,
      );
    }
    say(`chaos: cluster up (${cluster.slots.map((slot) => slot.pod).join(', ')})`);
    await db.connect();
    await db.query(`SET search_path TO "${schema}"`);

    const apiAddress = cluster.address('api');
    const auth = grpcClient(apiAddress, AuthService);
    const orders = grpcClient(apiAddress, OrderService);
    closers.push(
      () => {
        auth.close();
      },
      () => {
        orders.close();
      },
    );
    const apiUrls = cluster.slots
      .filter((slot) => slot.role === 'api')
      .map((slot) => `http://127.0.0.1:${slot.httpPort}`);
    const sdkTrader = (i: number) =>
      options.tradersTransport === 'sdk' || (options.tradersTransport === 'mix' && i % 2 === 0);
    const pods = cluster.slots
      .filter((slot) => slot.role === 'stream')
      .map((slot) => ({
        grpc: `127.0.0.1:${slot.grpcPort}`,
        http: `http://127.0.0.1:${slot.httpPort}`,
      }));
    const transportOf = (i: number) => {
      const kind = options.transports[i % options.transports.length];
      if (kind === undefined) throw new RangeError('at least one stream transport is needed');
      return kind;
    };
    for (let i = 0; i < options.traders; i += 1) {
      const credentials = { username: `chaos_trader_${i}`, password: 'long enough password' };
      const registered = await unary(auth, 'register', credentials, bearer(''), 30_000);
      if (!registered.ok) throw registered.error;
      const login = await unary<{ userId: string; tokens: { accessToken: string } }>(
        auth,
        'login',
        credentials,
        bearer(''),
        30_000,
      );
      if (!login.ok) throw login.error;
      const { accessToken } = login.response.tokens;
      const account = { userId: login.response.userId };
      let gateway: OrderGateway;
      if (sdkTrader(i)) {
        // Signed in on its own, as a separate client of the same user would be.
        const manager = await sdkTraderClient(apiUrls, credentials.username, credentials.password);
        closers.push(() => {
          manager.close();
        });
        gateway = sdkOrderGateway(manager, 5_000);
      } else {
        gateway = grpcOrderGateway(orders, bearer(accessToken), 5_000);
      }
      const trader = new Trader(gateway, account, {
        name: `t${i}`,
        seed: options.seed * 1_000 + i,
        symbol: MARKET.symbol,
        mid: 1_000,
        thinkMs: 20,
        giveUpMs: 120_000,
        cancelShare: 0.15,
      });
      traders.push(trader);
      traderKinds.set(trader, sdkTrader(i) ? 'sdk' : 'grpc');
      subscribers.push(
        new Subscriber({
          kind: 'private',
          transport: transportOf(i),
          pods,
          first: i,
          symbol: MARKET.symbol,
          accessToken,
        }),
      );
    }
    for (let i = 0; i < options.marketSubscribers; i += 1) {
      subscribers.push(
        new Subscriber({
          kind: 'market',
          transport: transportOf(i),
          pods,
          first: i,
          symbol: MARKET.symbol,
        }),
      );
    }
    for (const subscriber of subscribers) subscriber.start();
    // Orders start once every stream is open: a private stream's first message is the account
    // as it stands, and what came before it is not replayed, so a fill before it would be
    // missing from what the private-stream check holds against PostgreSQL.
    await withTimeout(
      Promise.all(subscribers.map((subscriber) => subscriber.streaming)),
      60_000,
      'every subscriber streaming',
    );
    for (const trader of traders) trader.start();
    say(
      `chaos: ${traders.length} traders (${options.tradersTransport}), ${subscribers.length} subscribers running (${options.transports.join(', ')})`,
    );

    // The kills.
    const startedAt = Date.now();
    const durationMs = options.durationS * 1_000;
    const plan = killSchedule({
      seed: options.seed,
      roles: ROLES,
      kills: options.kills,
      durationMs,
      sigkillShare: options.sigkillShare,
    });
    const killsBy: Record<string, number> = {};
    const restarts: Promise<void>[] = [];
    let leaderKills = 0;
    let done = 0;
    for (const kill of plan) {
      await sleep(Math.max(0, startedAt + kill.atMs - Date.now()));
      // Each role keeps one process up: wait for a restart when none may go now.
      let victim = pickVictim(cluster.slots, kill.role, kill.pick);
      while (victim === undefined && Date.now() < startedAt + durationMs) {
        await sleep(200);
        victim = pickVictim(cluster.slots, kill.role, kill.pick);
      }
      if (victim === undefined) {
        say('chaos: the run ended before a process could be killed; kill skipped');
        continue;
      }
      const leader = victim.role === 'engine' && isLeader(cluster, victim);
      if (leader) leaderKills += 1;
      const label = `${victim.role}${leader ? ' (leader)' : ''} ${kill.signal}`;
      killsBy[label] = (killsBy[label] ?? 0) + 1;
      done += 1;
      say(
        `chaos: ${Math.round((Date.now() - startedAt) / 1000)} s: ${kill.signal} ${victim.pod}${leader ? ' (engine leader)' : ''}`,
      );
      restarts.push(restart(cluster, victim, kill.signal, say));
    }
    await sleep(Math.max(0, startedAt + durationMs - Date.now()));
    await Promise.all(restarts);
    const endedAt = Date.now();
    const elapsedS = (endedAt - startedAt) / 1000;

    // Quiesce, then check.
    await Promise.all(traders.map((trader) => trader.stop()));
    const acks = traders.flatMap((trader) => trader.acks);
    say(`chaos: load stopped after ${Math.round(elapsedS)} s; ${acks.length} orders acknowledged`);
    const behind = await catchUp(db, subscribers, traders, 60_000);
    const engineBook = await engineChecksum(db, MARKET.symbol);
    const bookWrong = (s: Subscriber) => s.kind === 'market' && s.book.checksum() !== engineBook;
    const ledger: LedgerReport = await checkLedger(db, MARKET, DEMO, acks);
    const privateWrong = new Map<Subscriber, number>();
    for (const [i, trader] of traders.entries()) {
      const subscriber = subscribers[i];
      if (subscriber === undefined) continue;
      const findings = await checkPrivateStream(db, trader.account.userId, subscriber.privateView);
      privateWrong.set(subscriber, privateMismatches(findings));
      for (const example of findings.examples)
        say(`chaos: private stream ≠ PostgreSQL: ${example}`);
    }
    await Promise.all(subscribers.map((subscriber) => subscriber.stop()));
    const observation =
      prometheus === undefined ? undefined : await observe(prometheus, startedAt, endedAt, say);

    const perTransport = (group: readonly Subscriber[]): TransportReport => {
      const sum = (f: (s: Subscriber) => number) => group.reduce((n, s) => n + f(s), 0);
      return {
        subscribers: group.length,
        messages: sum((s) => s.stats.messages),
        stream_gaps: sum((s) => s.stats.gaps),
        stream_duplicates: sum((s) => s.stats.duplicates),
        checksum_mismatches: sum((s) => s.stats.checksumMismatches),
        books_mismatched: group.filter(bookWrong).length,
        streams_behind: group.filter((s) => behind.has(s)).length,
        private_mismatches: sum((s) => privateWrong.get(s) ?? 0),
        resumes: sum((s) => s.stats.resumes),
        resumes_not_recovered: sum((s) => s.stats.notRecovered),
        migrations: sum((s) => s.stats.migrations),
        resume_p99_ms: percentile(
          group.flatMap((s) => s.stats.resumeMs),
          0.99,
        ),
      };
    };
    const all = perTransport(subscribers);
    const resumeMs = subscribers.flatMap((s) => s.stats.resumeMs);
    const takeovers = cluster.events.filter((e) => e.line.msg === 'engine shard takeover');
    completed = true;
    return {
      seed: options.seed,
      duration_s: Math.round(elapsedS),
      kills: done,
      kills_by: killsBy,
      engine_leader_kills: leaderKills,
      engine_takeovers: takeovers.length,
      takeover_max_ms: Math.max(0, ...takeovers.map((e) => Number(e.line.takeover_ms))),
      acked_orders: ledger.acked_orders,
      acked_orders_lost: ledger.acked_orders_lost,
      acks_conflicting: ledger.acks_conflicting,
      orders_duplicated: ledger.orders_duplicated,
      fills_duplicated: ledger.fills_duplicated,
      trade_ids_broken: ledger.trade_ids_broken,
      balances_conserved: ledger.balances_conserved,
      reservations_mismatched: ledger.reservations_mismatched,
      stream_gaps: all.stream_gaps,
      stream_duplicates: all.stream_duplicates,
      checksum_mismatches: all.checksum_mismatches,
      books_mismatched: all.books_mismatched,
      streams_behind: all.streams_behind,
      private_mismatches: all.private_mismatches,
      transports: Object.fromEntries(
        options.transports.map((kind) => [
          kind,
          perTransport(subscribers.filter((s) => s.transport === kind)),
        ]),
      ),
      resumes: all.resumes,
      resumes_not_recovered: all.resumes_not_recovered,
      migrations: all.migrations,
      stream_pod_kills: Object.entries(killsBy)
        .filter(([label]) => label.startsWith('stream'))
        .reduce((n, [, count]) => n + count, 0),
      resume_p50_ms: percentile(resumeMs, 0.5),
      resume_p99_ms: percentile(resumeMs, 0.99),
      resume_max_ms: Math.round(Math.max(0, ...resumeMs)),
      orders_per_s: Math.round((acks.length / elapsedS) * 10) / 10,
      messages_per_s: Math.round((all.messages / elapsedS) * 10) / 10,
      calls_abandoned: traders.reduce((n, t) => n + t.stats.abandoned, 0),
      calls_abandoned_by: countBy(traders.flatMap((t) => t.stats.abandonedBy)),
      call_retries: traders.reduce((n, t) => n + t.stats.retries, 0),
      traders_transport: options.tradersTransport,
      traders_by_transport: tradersBy(traders, traderKinds),
      prometheus:
        observation !== undefined
          ? 'observed'
          : options.prometheus === 'off'
            ? 'off'
            : 'not installed',
      alerts_fired: observation?.alertsFired ?? null,
      alerts_pending: observation?.alertsPending ?? null,
      panels_moved: observation?.panels.filter((p) => p.moved).length ?? null,
      panels_total: observation?.panels.length ?? null,
      panels_still: observation?.panels.filter((p) => !p.moved).map((p) => p.name) ?? null,
      annotations_marked: observation?.annotationsMarked ?? null,
      dashboard_query_errors: observation?.queryErrors ?? [],
      log_dir: options.keep ? logDir : undefined,
    };
  } finally {
    await Promise.all(traders.map((trader) => trader.stop()));
    await Promise.all(subscribers.map((subscriber) => subscriber.stop()));
    for (const close of closers) close();
    await cluster.stop();
    await prometheus?.stop();
    await db.end().catch(() => undefined);
    // A run that broke keeps its pods' logs for the post-mortem.
    if (!options.keep) await cleanUp(options, schema, completed ? dataDir : undefined);
    if (!completed) say(`chaos: the run broke; pod logs kept in ${logDir}`);
  }
}

/**
 * Seconds between two scrapes (and rule evaluations) of the run's Prometheus, and each
 * scrape's timeout: on a saturated machine a pod's /metrics can take over a second, and every
 * scrape lost leaves a rate over a few scrapes with nothing to say.
 */
const SCRAPE_INTERVAL_S = 2;

/** Scrape intervals a drained stream pod waits at most for the scrape that reads its drain. */
const DRAIN_LINGER_SCRAPES = 3;

/**
 * A Prometheus to scrape every pod of the cluster as it is spawned (the file_sd targets
 * rewritten at each restart, with the new pod name), not started yet; undefined when it is off
 * or, in `auto`, not installed.
 */
async function preparePrometheus(
  options: ChaosOptions,
  dataDir: string,
  cluster: LocalCluster,
  say: (line: string) => void,
): Promise<ChaosPrometheus | undefined> {
  if (options.prometheus === 'off') return undefined;
  if (!prometheusInstalled()) {
    if (options.prometheus === 'on') throw new Error('--prometheus on: no prometheus binary');
    say('chaos: no prometheus binary (Debian package prometheus): alerts and panels not read');
    return undefined;
  }
  const dir = join(dataDir, 'prometheus');
  await mkdir(dir);
  const prometheus = new ChaosPrometheus({
    dir,
    port: await freePort(),
    scrapeIntervalS: SCRAPE_INTERVAL_S,
    ...(options.alertFor === undefined ? {} : { alertFor: options.alertFor }),
  });
  cluster.onSpawn(() => {
    prometheus.setTargets(scrapeTargets(cluster)).catch((error: unknown) => {
      say(`chaos: could not rewrite the Prometheus targets: ${String(error)}`);
    });
  });
  return prometheus;
}

/** Every pod spawned and not yet replaced, as the PodMonitor would find it. */
const scrapeTargets = (cluster: LocalCluster): ScrapeTarget[] =>
  cluster.slots
    .filter((slot) => slot.generation > 0)
    .map((slot) => ({ address: `127.0.0.1:${slot.httpPort}`, namespace: 'chaos', pod: slot.pod }));

/** Reads alerts and panels back once the last samples of the window are in. */
async function observe(
  prometheus: ChaosPrometheus,
  startedAt: number,
  endedAt: number,
  say: (line: string) => void,
): Promise<Observation> {
  await sleep(Math.max(0, endedAt + 3 * SCRAPE_INTERVAL_S * 1_000 - Date.now()));
  const observation = await observeRun(
    prometheus,
    queryWindow(startedAt / 1_000, endedAt / 1_000, SCRAPE_INTERVAL_S),
  );
  const moved = observation.panels.filter((p) => p.moved).length;
  say(
    `chaos: prometheus saw alerts fired [${observation.alertsFired.join(', ')}], pending [${observation.alertsPending.join(', ')}]; ${moved} of ${observation.panels.length} panels moved`,
  );
  for (const error of observation.queryErrors) say(`chaos: dashboard query refused: ${error}`);
  return observation;
}

/**
 * A process of `role` that may go now, as a disruption budget would allow: one that is up,
 * while the role's other process is up too, so every role keeps serving.
 */
function pickVictim(slots: readonly Slot[], role: Role, pick: number): Slot | undefined {
  const ofRole = slots.filter((slot) => slot.role === role);
  const candidates = ofRole.every((slot) => slot.ready) ? ofRole : [];
  return candidates[Math.floor(pick * candidates.length)];
}

/** Whether the slot's current pod is the last engine to have started serving the shard. */
function isLeader(cluster: LocalCluster, slot: Slot): boolean {
  const started = cluster.events.filter((e) => e.line.msg === 'engine shard started');
  return started.at(-1)?.pod === slot.pod;
}

async function restart(
  cluster: LocalCluster,
  slot: Slot,
  signal: KillSignal,
  say: (line: string) => void,
): Promise<void> {
  const before = slot.pod;
  await cluster.kill(slot, signal);
  const at = performance.now();
  await startOrRetry(cluster, slot, say);
  say(`chaos: ${before} → ${slot.pod} up in ${Math.round(performance.now() - at)} ms`);
}

/** A pod that fails to start (a dependency timing out on a saturated machine) gets one more go. */
async function startOrRetry(
  cluster: LocalCluster,
  slot: Slot,
  say: (line: string) => void,
): Promise<void> {
  try {
    await cluster.start(slot);
  } catch (error) {
    say(`chaos: ${slot.pod} failed to start (${String(error)}; see its log); once more`);
    await cluster.kill(slot, 'SIGKILL');
    await cluster.start(slot);
  }
}

/**
 * Waits until every subscriber holds the last seq of each of its streams (the outbox relayed);
 * resolves to the subscribers still behind at the deadline.
 */
async function catchUp(
  db: pg.Client,
  subscribers: readonly Subscriber[],
  traders: readonly Trader[],
  timeoutMs: number,
): Promise<Set<Subscriber>> {
  const deadline = Date.now() + timeoutMs;
  const users = traders.map((trader) => trader.account.userId);
  for (;;) {
    const { rows } = await db.query<{ stream: string; seq: string }>(
      'SELECT stream, seq::text FROM stream_heads',
    );
    const heads = new Map(rows.map((row) => [row.stream, BigInt(row.seq)]));
    const behind = subscribers.filter((subscriber, i) => {
      const streams =
        i < users.length
          ? [`orders.${users[i]}`]
          : [`book.${MARKET.symbol}`, `trades.${MARKET.symbol}`];
      return streams.some((stream) => subscriber.seq(stream) < (heads.get(stream) ?? 0n));
    });
    if (behind.length === 0 || Date.now() > deadline) return new Set(behind);
    await sleep(250);
  }
}

/** The engine's book as committed: open orders summed per price level. */
async function engineChecksum(db: pg.Client, symbol: string): Promise<number> {
  const { rows } = await db.query<{ side: string; price: string; quantity: string }>(
    `SELECT side, price::text, sum(quantity - filled)::text AS quantity FROM orders
     WHERE symbol = $1 AND status IN ('new', 'partially_filled') GROUP BY side, price`,
    [symbol],
  );
  const side = (name: string) =>
    new Map(
      rows
        .filter((row) => row.side === name)
        .map((row) => [BigInt(row.price), BigInt(row.quantity)]),
    );
  return topChecksum(side('buy'), side('sell'));
}

async function cleanUp(
  options: ChaosOptions,
  schema: string,
  dataDir: string | undefined,
): Promise<void> {
  const db = new pg.Client({ connectionString: options.databaseUrl });
  await db.connect();
  await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await db.end();
  const redis = new Redis(options.redisUrl);
  const keys = await redis.keys(`${schema}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
}

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

function tradersBy(
  traders: readonly Trader[],
  kinds: ReadonlyMap<Trader, string>,
): Record<string, TraderTransportReport> {
  const by: Record<string, TraderTransportReport> = {};
  for (const trader of traders) {
    const kind = kinds.get(trader) ?? 'unknown';
    const soFar = by[kind] ?? { traders: 0, acked_orders: 0, call_retries: 0, calls_abandoned: 0 };
    by[kind] = {
      traders: soFar.traders + 1,
      acked_orders: soFar.acked_orders + trader.acks.length,
      call_retries: soFar.call_retries + trader.stats.retries,
      calls_abandoned: soFar.calls_abandoned + trader.stats.abandoned,
    };
  }
  return by;
}
