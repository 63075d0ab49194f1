-- Accounts, refresh tokens and balances: what Auth and the demo balance need on day one.
-- Runs inside one transaction, with search_path set to the target schema: never qualify
-- table names with a schema here.

CREATE TABLE users (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  username text NOT NULL CHECK (length(username) BETWEEN 1 AND 64),
  password_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- Case-insensitive uniqueness without citext (not available on PGlite): look users up with
-- WHERE lower(username) = lower($1) so this index is used.
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));

-- Refresh tokens rotate within a family; reuse of a used token revokes the whole family.
-- Only a hash of the token is stored.
CREATE TABLE refresh_tokens (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  family_id uuid NOT NULL,
  token_hash text NOT NULL UNIQUE,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);

-- Amounts in minor units. The CHECKs make an overdraft impossible whatever the code does:
-- reserve with UPDATE … SET available = available - $n, reserved = reserved + $n, and a
-- check violation (23514) means "insufficient funds".
CREATE TABLE balances (
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  asset text NOT NULL CHECK (length(asset) BETWEEN 1 AND 16),
  available bigint NOT NULL DEFAULT 0 CHECK (available >= 0),
  reserved bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, asset)
);
