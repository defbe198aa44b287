-- Raw identity events: the device or cookie anonymous_id belongs to user_id
-- from ts_ms on (a login, a sign-up). Per anonymous_id, the link with the
-- smallest (ts_ms, event_id) over all its sources decides its user (the
-- other sources are the touchpoints and conversions that carry both ids,
-- kept in their own tables); a link of the same anonymous_id to another
-- user is a conflict, kept here and never applied. The sorting key starts
-- with anonymous_id, so that the links of a device are read together and
-- its earliest link comes first; a retried event (same event_id, same
-- anonymous_id and time) collapses into one row on merge and under FINAL.
-- too_late = 1 marks a link that arrived beyond the re-attribution horizon:
-- stored and counted, applied only to later events.
CREATE TABLE IF NOT EXISTS {db}.identities
(
    event_id         String,
    anonymous_id     String,
    user_id          String,
    ts_ms            Int64,
    event_date       Date,
    kafka_partition  Int32,
    too_late         UInt8 DEFAULT 0,
    inserted_at      DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_date)
ORDER BY (anonymous_id, ts_ms, event_id);
