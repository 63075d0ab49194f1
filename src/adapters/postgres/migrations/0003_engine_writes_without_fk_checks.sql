-- The engine's batch writes without per-row foreign key checks (issue 6, throughput).
-- Runs inside one transaction with search_path set to the target schema.
--
-- Each foreign key check is a query of its own, and the one on users also locks the user's
-- row (FOR KEY SHARE). In bench:orders these checks were a quarter of PostgreSQL's CPU per
-- order (about 50 µs of 200). What they guarded still holds, by construction:
-- - an order's user exists: the batch that inserts the order holds that user's balance row
--   locked (FOR UPDATE), and balances.user_id references users;
-- - a fill's maker and taker orders exist: the only writer of a shard's orders and fills
--   inserts a fill in the same statement as the taker order, and the maker was resting in
--   the book, which holds only stored orders.
-- orders-conservation.test.ts checks both after random order streams, and more than the keys
-- did: every order's `filled` equals the sum of its fills.
ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey;
ALTER TABLE fills DROP CONSTRAINT fills_maker_order_id_fkey;
ALTER TABLE fills DROP CONSTRAINT fills_taker_order_id_fkey;
