-- Credited conversions, compact: one row per conversion and version,
-- holding the conversion once, its path once (parallel arrays, first touch
-- first) and the credits of every model that credited it once. Every
-- attribution of a conversion writes one row; version is the number of the
-- user's events the path was computed from, so a recomputation from the
-- same events (a replay after a crash) writes an identical row, and one
-- that saw more (a late touchpoint) writes a higher version. The table is a
-- ReplacingMergeTree(version) sorted by conversion_id alone: the versions of
-- a conversion (always in the same partition, as the conversion's date
-- never changes) replace each other on merge, and FINAL reads only the
-- highest. Analysts read the view credited_conversions, which unfolds the
-- arrays into one row per conversion x model x touchpoint.
--
-- The credits are flattened, position-major: models (and fit_ids, the fit
-- a data-driven model credited with, '' for the rule-based ones) lists the
-- models that credited the conversion; credit_fractions and credit_micros
-- hold length(models) entries per touchpoint, the credit of models[i] for
-- the touchpoint at position p at index (p-1)*length(models) + i. A
-- conversion without a touchpoint (path_length 0) has one entry per model:
-- the unattributed row, position 0, channel '(none)'. The credit_micros of
-- one model sum exactly to revenue_micros, the conversion's value.
CREATE TABLE IF NOT EXISTS {db}.attributed_conversions
(
    conversion_id     String,
    conversion_type   String,
    user_key          String,
    currency          String,
    conversion_ts_ms  Int64,
    conversion_date   Date,
    version           UInt32,
    revenue_micros    Int64,
    path_length       UInt32,
    touchpoint_ids    Array(String),
    channels          Array(String),
    sources           Array(String),
    mediums           Array(String),
    campaigns         Array(String),
    interactions      Array(String),
    touchpoint_ts_ms  Array(Int64),
    models            Array(String),
    fit_ids           Array(String),
    credit_fractions  Array(Float64),
    credit_micros     Array(Int64),
    inserted_at       DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(conversion_date)
ORDER BY conversion_id;
