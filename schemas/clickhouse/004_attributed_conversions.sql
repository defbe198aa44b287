-- Credited conversions, compact: one row per conversion and version,
-- holding the conversion once, its path once (parallel arrays, first touch
-- first) and the credits of every model that credited it once. Every
-- attribution of a conversion writes one row; version is the number of the
-- user's events the path was computed from, so a recomputation from the
-- same events (a replay after a crash) writes an identical row, and one
-- that saw more (a late touchpoint) writes a higher version. The table is a
-- ReplacingMergeTree(version) sorted by (conversion_date, conversion_id):
-- the versions of a conversion (written under its date, which its later
-- versions keep) replace each other on merge, and FINAL reads only the
-- highest. When a copy stamped on an earlier day becomes the conversion
-- (the earliest copy wins, as in replay) after its first credit was
-- stored, the new version goes under the new day and a retraction under
-- the old one: a row with no models (empty arrays, revenue 0, version
-- 4294967295: the conversion never moves to a later day again), which
-- every view unfolds to nothing; a day's rows lie together, so the views that aggregate a day
-- live read that day's granules, not its month (schema version 4; before,
-- the table was sorted by conversion_id alone). Granules of 1024 rows (the
-- default is 8192) keep a lookup by key to a few hundred kilobytes per
-- part: a row holds a whole path and its credits. Analysts read the view
-- credited_conversions, which unfolds the arrays into one row per
-- conversion x model x touchpoint; one conversion by id is read through
-- conversion_versions (below; docs/ANALYSTS.md).
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
ORDER BY (conversion_date, conversion_id)
SETTINGS index_granularity = 1024;

-- conversion_versions: where each credited conversion is stored and its
-- latest version, one small row per (conversion, date), sorted by
-- conversion_id: a lookup by id reads one granule here, then the
-- conversion's rows by their full key (conversion_date, conversion_id)
-- in attributed_conversions. The materialized view adds a row for every
-- row inserted into attributed_conversions, whoever writes it (the sink,
-- attributor migrate's copies); versions of one conversion collapse to the
-- highest on merge (read it with max(version), or FINAL). The attributor
-- reads it for the versions of the conversions it reloads and for the days
-- under which they still show credits. retracted is 1 for a retraction: a
-- row without models, written under a day the conversion left when a copy
-- stamped on an earlier day became the conversion (docs/DESIGN.md).
CREATE TABLE IF NOT EXISTS {db}.conversion_versions
(
    conversion_id    String,
    conversion_date  Date,
    version          UInt32,
    retracted        UInt8
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (conversion_id, conversion_date);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.conversion_versions_mv TO {db}.conversion_versions AS
SELECT conversion_id, conversion_date, version, empty(models) AS retracted
FROM {db}.attributed_conversions;
