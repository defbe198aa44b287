-- Ad spend per day, channel and campaign: from the ad_spend topic and from
-- `attributor spend import`. Deduplicated by event_id (a re-import of the
-- same rows replaces them: read it with FINAL). cost_micros is exact.
CREATE TABLE IF NOT EXISTS {db}.ad_spend
(
    event_id     String,
    date         Date,
    channel      String,
    source       String,
    medium       String,
    campaign     String,
    cost_micros  Int64,
    currency     String,
    origin       String,
    inserted_at  DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(date)
ORDER BY (event_id);
