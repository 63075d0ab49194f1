-- The price and quantity each order was placed with (issue 6, idempotency).
-- Runs inside one transaction with search_path set to the target schema.
--
-- A place under a client order id that is already used returns the stored order only when it
-- asks for the same order (a retry); a different order is ALREADY_EXISTS. An amend changes an
-- order's price and quantity, so a retry of the original place is compared with these.
-- Nullable, without a default: no table rewrite, and the previous release, which does not
-- write them, keeps working during a rolling deploy; its orders are compared on their other
-- terms alone.
ALTER TABLE orders
  ADD COLUMN placed_price bigint,
  ADD COLUMN placed_quantity bigint;
