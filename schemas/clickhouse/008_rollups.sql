-- Daily rollups of the aggregate views (docs/DESIGN.md, "Aggregates: daily
-- rollups"). `attributor rollup`, and `attributor run` every
-- --rollup-interval, aggregate whole UTC days of the current credited rows
-- and of the touchpoints into the *_rollup tables; the views
-- credited_daily, channel_credits_daily, model_comparison and
-- channel_performance read a day from its rollup while the rollup is valid,
-- and aggregate it live from attributed_conversions (or touchpoints)
-- otherwise. Every row of a rollup table belongs to one run (run_id) of one
-- day; a run is complete when rollup_runs records it, and only the latest
-- recorded run of a day counts: a re-run writes the day anew, never adds to
-- it, so that running the rollup twice, or again after a crash, cannot
-- double count.

-- rollup_marks: the days written. The attributor's sink adds a row per
-- (kind, day) it wrote rows for after ClickHouse acknowledged those rows:
-- kind 'credits' for attributed_conversions (by conversion_date),
-- 'touchpoints' for touchpoints (by event_date). A day's rollup is valid
-- only if its run started after the day's latest mark (server clock), so a
-- write into a rolled-up day (a re-attribution, a conversion or touchpoint
-- arriving beyond the horizon) sends the views back to the live rows for
-- that day until the next run.
CREATE TABLE IF NOT EXISTS {db}.rollup_marks
(
    kind       String,
    date       Date,
    marked_at  DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(marked_at)
ORDER BY (kind, date);

-- rollup_runs: one row per completed run of a day, written after the run's
-- rows. started_at is the server's clock read before the run read any
-- row; run_id orders the runs of a day (started_at in its high digits).
CREATE TABLE IF NOT EXISTS {db}.rollup_runs
(
    kind         String,
    date         Date,
    run_id       UInt64,
    started_at   DateTime,
    finished_at  DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(run_id)
ORDER BY (kind, date);

-- credit_rollup: per day x model x channel x source x medium x campaign x
-- conversion_type x currency, the credit (conversions), the exact revenue
-- credited (micros) and the credited rows (rows of credited_conversions)
-- of the conversions of that day, current versions only.
CREATE TABLE IF NOT EXISTS {db}.credit_rollup
(
    date             Date,
    run_id           UInt64,
    model            String,
    channel          String,
    source           String,
    medium           String,
    campaign         String,
    conversion_type  String,
    currency         String,
    conversions      Float64,
    revenue_micros   Int64,
    credited_rows    UInt64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(date)
ORDER BY (date, run_id, model, channel, source, medium, campaign, conversion_type, currency);

-- channel_rollup: per day x model x channel x campaign, the same sums and
-- the distinct users the model credits (credit > 0) that day, which cannot
-- be summed from finer rows: what channel_performance and model_comparison
-- read.
CREATE TABLE IF NOT EXISTS {db}.channel_rollup
(
    date              Date,
    run_id            UInt64,
    model             String,
    channel           String,
    campaign          String,
    conversions       Float64,
    revenue_micros    Int64,
    converting_users  UInt64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(date)
ORDER BY (date, run_id, model, channel, campaign);

-- reach_rollup: per day (of the touchpoint) x channel x campaign, the
-- impressions, clicks, distinct users reached and the touchpoints' cost
-- (each rounded to micros), from touchpoints FINAL (read through
-- touchpoints_by_day, 009_touchpoints_by_day.sql, which holds the same
-- rows sorted by day).
CREATE TABLE IF NOT EXISTS {db}.reach_rollup
(
    date           Date,
    run_id         UInt64,
    channel        String,
    campaign       String,
    impressions    UInt64,
    clicks         UInt64,
    users_reached  UInt64,
    cost_micros    Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(date)
ORDER BY (date, run_id, channel, campaign);

-- credit_days, touchpoint_days: the days that hold rows of
-- attributed_conversions (by conversion_date) and of touchpoints (by
-- event_date), whoever wrote them: the materialized views below add the
-- days of every insert into those tables that are not recorded yet, and
-- attributor migrate adds the days stored before they existed. The
-- aggregate views take the days to aggregate live from here (a few hundred
-- rows) instead of reading the day column of every stored row. An insert
-- whose days are all recorded (nearly every live insert) adds nothing, and
-- so makes no part in the day table (schema version 7; before, every
-- insert wrote its days again: a part per insert, merged again later).
-- Two inserts of a new day at once may both add it: the rows collapse
-- (ReplacingMergeTree) and the views read the days as a set anyway.
CREATE TABLE IF NOT EXISTS {db}.credit_days
(
    date  Date
)
ENGINE = ReplacingMergeTree()
ORDER BY date;

CREATE TABLE IF NOT EXISTS {db}.touchpoint_days
(
    date  Date
)
ENGINE = ReplacingMergeTree()
ORDER BY date;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.credit_new_days_mv TO {db}.credit_days AS
SELECT conversion_date AS date
FROM {db}.attributed_conversions
WHERE conversion_date NOT IN (SELECT date FROM {db}.credit_days)
GROUP BY conversion_date;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.touchpoint_new_days_mv TO {db}.touchpoint_days AS
SELECT event_date AS date
FROM {db}.touchpoints
WHERE event_date NOT IN (SELECT date FROM {db}.touchpoint_days)
GROUP BY event_date;
