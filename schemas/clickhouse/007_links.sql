-- Links that decided a device's user in the stream: anonymous_id belongs to
-- user_id, observed at (ts_ms, event_id) by an identity event (origin
-- 'identity') or by a touchpoint or conversion that carried both ids
-- (origin 'event'). Written by the owner of the anonymous_id's home (home:
-- the repartition partition, murmur2(anonymous_id) mod its partition
-- count) for every link that changed its link table: a first link, an
-- earlier one that took over, a new conflict (a shared device). The next
-- owner of a home rebuilds its table from these rows (WHERE home IN ...).
-- For a device's user, take its earliest link, the smallest (ts_ms,
-- event_id):
--   SELECT anonymous_id, argMin(user_id, (ts_ms, event_id)) AS user_id
--   FROM links GROUP BY anonymous_id
-- Rows are never deleted: a dropped link would change keys. A re-sent
-- link collapses into one row on merge and under FINAL.
CREATE TABLE IF NOT EXISTS {db}.links
(
    anonymous_id  String,
    user_id       String,
    ts_ms         Int64,
    event_id      String,
    home          Int32,
    origin        String,
    inserted_at   DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree()
ORDER BY (anonymous_id, ts_ms, event_id, user_id);

-- links_by_user: the same links sorted by user, kept by the materialized
-- view below on every insert into links. A history load with stitching
-- finds a user's devices here by lookup instead of reading every link.
CREATE TABLE IF NOT EXISTS {db}.links_by_user
(
    user_id       String,
    anonymous_id  String
)
ENGINE = ReplacingMergeTree()
ORDER BY (user_id, anonymous_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.links_by_user_mv TO {db}.links_by_user AS
SELECT user_id, anonymous_id
FROM {db}.links;
