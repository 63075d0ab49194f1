import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { Metadata, type Client } from '@grpc/grpc-js';
import pg from 'pg';
import { Registry } from 'prom-client';
import {
  createPostgres,
  runMigrations,
  type Postgres,
} from '../../../../src/adapters/postgres/index.js';
import { AccessTokens } from '../../../../src/domain/auth/access-tokens.js';
import { systemClock, type Clock } from '../../../../src/domain/clock.js';
import type { QuotaCounter } from '../../../../src/domain/ports/quota.port.js';
import { AccountService } from '../../../../src/gen/trading/v1/account_pb.js';
import { OrderService } from '../../../../src/gen/trading/v1/orders_pb.js';
import { Readiness } from '../../../../src/lifecycle/readiness.js';
import type { Logger } from '../../../../src/telemetry/index.js';
import {
  registration,
  startGrpcServer,
  type GrpcServerOptions,
  type GrpcServer,
} from '../../../../src/transport/grpc/server.js';
import {
  createOrders,
  DEFAULT_ORDERS_SETTINGS,
  type Orders,
  type OrdersSettings,
} from '../../../../src/wiring/orders.js';
import { grpcClient } from '../../../support/grpc.js';
import { silentLogger } from '../../adapters/support/observability.js';

export const DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const DEMO = { USD: 100_000_000n, BTC: 100_000_000n } as const;

/**
 * The orders module on the real PostgreSQL, in a schema of its own: what `createOrders` gets
 * in the app, without the rest of the app. `restart()` builds a fresh module on the same data,
 * which is exactly what a new engine leader does.
 */
export class OrdersHarness {
  readonly schema = `orders_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  readonly registry = new Registry();
  postgres!: Postgres;
  orders!: Orders;
  #settings: OrdersSettings;
  #logger: Logger;
  #clock: Clock;
  #grpc: GrpcServer | undefined;
  #previous: Orders[] = [];
  #quotas: QuotaCounter | undefined;
  #tokens = (() => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    return new AccessTokens(
      { privateKey, publicKey, kid: 'test' },
      { issuer: 'test', audience: 'test', ttlSeconds: 600 },
      systemClock,
    );
  })();

  constructor(
    settings: Partial<OrdersSettings> = {},
    options: { logger?: Logger; clock?: Clock; quotas?: QuotaCounter } = {},
  ) {
    this.#quotas = options.quotas;
    this.#settings = { ...DEFAULT_ORDERS_SETTINGS, ...settings };
    this.#logger = options.logger ?? silentLogger();
    this.#clock = options.clock ?? systemClock;
  }

  async start(): Promise<this> {
    this.postgres = createPostgres({
      connectionString: DATABASE_URL,
      schema: this.schema,
      max: 6,
      healthCheckIntervalMs: 0,
      logger: this.#logger,
      registry: this.registry,
    });
    await runMigrations({ pool: this.postgres.pool, logger: this.#logger, schema: this.schema });
    await this.#build();
    return this;
  }

  /** A new module on the same schema: shards take over (epoch + 1) and rebuild their books. */
  async restart(): Promise<Orders> {
    const previous = this.orders;
    this.#previous.push(previous);
    await this.#build();
    return previous;
  }

  async #build(): Promise<void> {
    this.orders = createOrders(this.#settings, {
      postgres: this.postgres,
      logger: this.#logger,
      registry: this.registry,
      clock: this.#clock,
      ...(this.#quotas === undefined ? {} : { quotas: this.#quotas }),
    });
    await this.orders.start();
  }

  /** A user with the demo balances (or the given ones); resolves to its id. */
  async user(balances: Record<string, bigint> = DEMO): Promise<number> {
    const { rows } = await this.postgres.query<{ id: string }>(
      "INSERT INTO users (username, password_hash) VALUES ($1, 'x') RETURNING id::text",
      [`u_${randomUUID().slice(0, 12)}`],
    );
    const id = Number(rows[0]?.id);
    for (const [asset, amount] of Object.entries(balances)) {
      await this.postgres.query(
        'INSERT INTO balances (user_id, asset, available) VALUES ($1, $2, $3)',
        [id, asset, amount.toString()],
      );
    }
    return id;
  }

  async balances(userId: number): Promise<Record<string, { available: bigint; reserved: bigint }>> {
    const list = await this.orders.accounts.getBalances(userId);
    return Object.fromEntries(
      list.map((b) => [b.asset, { available: b.available, reserved: b.reserved }]),
    );
  }

  /** Serves the module's handlers over real gRPC with bearer-token auth; resolves to the address. */
  async serveGrpc(options: Pick<GrpcServerOptions, 'limitCall'> = {}): Promise<string> {
    this.#grpc = await startGrpcServer(
      {
        host: '127.0.0.1',
        port: 0,
        logger: this.#logger,
        registry: this.registry,
        readiness: new Readiness(),
        tls: undefined,
        authenticate: (token) => this.#tokens.verify(token),
        ...options,
      },
      [
        registration(OrderService, this.orders.orderRpc),
        registration(AccountService, this.orders.accountRpc),
      ],
    );
    return `127.0.0.1:${this.#grpc.port}`;
  }

  async bearer(userId: number): Promise<Metadata> {
    const { token } = await this.#tokens.issue({ userId: String(userId), sessionId: randomUUID() });
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    return metadata;
  }

  clients(address: string): { orders: Client; accounts: Client } {
    return {
      orders: grpcClient(address, OrderService),
      accounts: grpcClient(address, AccountService),
    };
  }

  /** Shuts the gRPC server down gracefully, as a pod being replaced does. */
  async drainGrpc(): Promise<void> {
    const server = this.#grpc;
    this.#grpc = undefined;
    await server?.drain();
  }

  async stop(): Promise<void> {
    await this.drainGrpc();
    for (const orders of [...this.#previous, this.orders]) {
      for (const step of orders.closeSteps) await step.run();
    }
    await this.postgres.close();
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    try {
      await admin.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`);
    } finally {
      await admin.end();
    }
  }
}
