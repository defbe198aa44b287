-- Raw conversions, written when they are attributed. Deduplicated like
-- touchpoints. revenue_micros is the revenue in millionths (exact).
CREATE TABLE IF NOT EXISTS {db}.conversions
(
    event_id         String,
    user_key         String,
    user_id          String,
    anonymous_id     String,
    ts_ms            Int64,
    event_date       Date,
    conversion_type  String,
    revenue_micros   Int64,
    currency         String,
    kafka_partition  Int32,
    inserted_at      DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_date)
ORDER BY (user_key, ts_ms, event_id);
