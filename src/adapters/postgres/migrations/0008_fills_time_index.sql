-- The fills of the last 24 hours, read when an engine shard starts to restore its tickers.
-- Runs inside one transaction with search_path set to the target schema.
--
-- A leader restores each symbol's rolling 24-hour ticker window from the fills of that window
-- (`loadTicker`). Fills are appended in time order, so a BRIN index on their time finds that
-- window's pages with a few dozen bytes per thousand pages, and costs the order path, which
-- inserts every fill, next to nothing; a B-tree would add an index insert per fill.
CREATE INDEX fills_created_at_brin ON fills USING brin (created_at);
