-- Gaian: players, the ledger (one row per accepted action) and per-day counters for caps.
CREATE TABLE players (
    player_id TEXT PRIMARY KEY,
    balance_micro BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE ledger (
    id BIGSERIAL PRIMARY KEY,
    player_id TEXT NOT NULL REFERENCES players (player_id),
    action TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    reward_micro BIGINT NOT NULL CHECK (reward_micro >= 0),
    balance_after_micro BIGINT NOT NULL,
    capped BOOLEAN NOT NULL,
    day TEXT NOT NULL,
    created_at TEXT NOT NULL,
    idempotency_key TEXT,
    request TEXT NOT NULL,
    metadata TEXT,
    CONSTRAINT ledger_idempotency_key_unique UNIQUE (idempotency_key)
);
CREATE INDEX ledger_player_idx ON ledger (player_id, id);

CREATE TABLE daily_totals (
    player_id TEXT NOT NULL,
    day TEXT NOT NULL,
    action TEXT NOT NULL,
    count BIGINT NOT NULL,
    reward_micro BIGINT NOT NULL,
    PRIMARY KEY (player_id, day, action)
);
