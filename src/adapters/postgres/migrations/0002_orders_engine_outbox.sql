-- Orders, fills, engine shards and the outbox of stream events (issue 6).
-- Runs inside one transaction with search_path set to the target schema.

-- Order ids are allocated here, in the engine's batch transaction, so they are unique across
-- shards and over all time (the engine only checks ids among open orders).
CREATE SEQUENCE order_ids AS bigint;

-- One row per engine shard. Every batch's write checks `epoch` (fencing): a runner that was
-- replaced by a newer one finds 0 rows and stops instead of writing.
CREATE TABLE engine_shards (
  shard text PRIMARY KEY,
  epoch bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The counters that, with the open orders, rebuild a book exactly (engine BookState).
CREATE TABLE books (
  symbol text PRIMARY KEY,
  next_trade_id bigint NOT NULL,
  next_priority bigint NOT NULL,
  last_trade_price bigint NOT NULL
);

-- `reserve_price` is the price the reservation was made at: the limit price, or for a market
-- buy the worst price it could reach; settlement releases reservations at this price.
CREATE TABLE orders (
  id bigint PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users (id),
  client_order_id text NOT NULL CHECK (length(client_order_id) BETWEEN 1 AND 64),
  symbol text NOT NULL,
  side text NOT NULL CHECK (side IN ('buy', 'sell')),
  type text NOT NULL CHECK (type IN ('limit', 'market')),
  time_in_force text NOT NULL CHECK (time_in_force IN ('GTC', 'IOC', 'FOK')),
  price bigint NOT NULL CHECK (price >= 0),
  reserve_price bigint NOT NULL CHECK (reserve_price >= 0),
  quantity bigint NOT NULL CHECK (quantity > 0),
  filled bigint NOT NULL CHECK (filled >= 0 AND filled <= quantity),
  status text NOT NULL CHECK (status IN ('new', 'partially_filled', 'filled', 'canceled')),
  post_only boolean NOT NULL,
  reason text NOT NULL DEFAULT '',
  priority bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX orders_user_client_order_id_key ON orders (user_id, client_order_id);
CREATE INDEX orders_user_id_id_idx ON orders (user_id, id DESC);
-- Recovery reads the open orders of a symbol in time priority.
CREATE INDEX orders_open_idx ON orders (symbol, priority) WHERE status IN ('new', 'partially_filled');

-- The primary key makes a trade impossible to record twice.
CREATE TABLE fills (
  symbol text NOT NULL,
  trade_id bigint NOT NULL,
  price bigint NOT NULL,
  quantity bigint NOT NULL CHECK (quantity > 0),
  taker_side text NOT NULL,
  maker_order_id bigint NOT NULL REFERENCES orders (id),
  taker_order_id bigint NOT NULL REFERENCES orders (id),
  created_at timestamptz NOT NULL,
  PRIMARY KEY (symbol, trade_id)
);
CREATE INDEX fills_maker_order_id_idx ON fills (maker_order_id);
CREATE INDEX fills_taker_order_id_idx ON fills (taker_order_id);

-- Last sequence number given out per stream. Updating a row locks it until commit, so writers
-- of one stream (several shards for a user's stream) commit in sequence order: no gaps.
CREATE TABLE stream_heads (
  stream text PRIMARY KEY,
  seq bigint NOT NULL
);

-- Stream events committed with the batch that caused them; the relay publishes them to the
-- stream log (XADD with the seq as entry id, so re-publishing is harmless) and deletes them.
CREATE TABLE outbox (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  stream text NOT NULL,
  seq bigint NOT NULL,
  payload text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stream, seq)
);
