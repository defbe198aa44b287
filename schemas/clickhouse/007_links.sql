-- TEMPORARY (lead14): replaced by src14's version at merge.
CREATE TABLE IF NOT EXISTS {db}.links
(
    anonymous_id String,
    user_id      String,
    ts_ms        Int64,
    event_id     String,
    home         Int32,
    origin       String,
    inserted_at  DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree()
ORDER BY (anonymous_id, ts_ms, event_id, user_id);
