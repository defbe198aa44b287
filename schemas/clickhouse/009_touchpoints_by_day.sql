-- touchpoints_by_day: the columns of touchpoints that reach and cost need
-- (channel_performance's impressions, clicks, users_reached and
-- touchpoint cost), sorted by day. touchpoints is sorted by user_key for
-- the attributor's history reloads, so a day of it is spread over its
-- whole month partition: the views that aggregate a day of touchpoints
-- live (today, or a day written into since its rollup) and the rollup
-- read this table instead, which holds a day's rows together, and read
-- that day only (schema version 5; before, reach_daily read the month of
-- touchpoints FINAL). Its sorting key is touchpoints' deduplication key
-- (user_key, ts_ms, event_id) behind the day, which ts_ms decides, with
-- event_id as its 64-bit SipHash (event_hash: 8 bytes where random ids
-- take 36 and compress little; two touchpoints of one user in one
-- millisecond would have to collide in 64 bits to be taken for one): a
-- replayed or retried touchpoint collapses here as it does in touchpoints,
-- on merge and under FINAL. The materialized view adds every row inserted
-- into touchpoints, whoever writes it; attributor migrate copies the rows
-- stored before the view existed.
CREATE TABLE IF NOT EXISTS {db}.touchpoints_by_day
(
    event_date   Date,
    user_key     String,
    ts_ms        Int64,
    event_hash   UInt64,
    interaction  String,
    channel      String,
    campaign     String,
    cost         Float64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_date)
ORDER BY (event_date, user_key, ts_ms, event_hash);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.touchpoints_by_day_mv TO {db}.touchpoints_by_day AS
SELECT event_date, user_key, ts_ms, sipHash64(event_id) AS event_hash, interaction, channel, campaign, cost
FROM {db}.touchpoints;
