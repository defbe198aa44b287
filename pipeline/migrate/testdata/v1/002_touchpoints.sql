-- Raw touchpoints, as consumed (after validation and channel derivation).
-- Deduplicated by (user_key, ts_ms, event_id): a replayed or retried event
-- collapses into one row on merge and under FINAL. The attributor reloads a
-- user's path from here after a restart, a rebalance or an eviction, which is
-- why the sorting key starts with user_key. too_late = 1 marks a touchpoint
-- that arrived beyond the re-attribution horizon: stored and counted, never
-- part of a path (history loads skip it).
CREATE TABLE IF NOT EXISTS {db}.touchpoints
(
    event_id         String,
    user_key         String,
    user_id          String,
    anonymous_id     String,
    ts_ms            Int64,
    event_date       Date,
    interaction      String,
    channel          String,
    source           String,
    medium           String,
    campaign         String,
    cost             Float64,
    session_start_ms Int64,
    kafka_partition  Int32,
    too_late         UInt8 DEFAULT 0,
    inserted_at      DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_date)
ORDER BY (user_key, ts_ms, event_id);
