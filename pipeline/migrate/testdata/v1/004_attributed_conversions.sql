-- Credited rows: one per conversion x model x touchpoint x version. Every
-- attribution of a conversion writes a complete set of rows under one
-- version; version is the number of the user's events the path was computed
-- from, so a recomputation from the same events (a replay after a crash)
-- writes byte-identical rows that collapse, and a recomputation that saw more
-- (a late touchpoint) writes a higher version that supersedes the old one.
-- Analysts read the view credited_conversions, never this table. fit_id
-- names the fit (model_fits.fit_id) a data-driven model (markov, shapley)
-- credited the row with, empty for the rule-based models; databases made
-- before it get it through schemas.AddedColumns.
CREATE TABLE IF NOT EXISTS {db}.attributed_conversions
(
    conversion_id    String,
    conversion_type  String,
    user_key         String,
    model            String,
    version          UInt32,
    touchpoint_id    String,
    channel          String,
    source           String,
    medium           String,
    campaign         String,
    interaction      String,
    credit           Float64,
    revenue_micros   Int64,
    currency         String,
    touchpoint_ts_ms Int64,
    conversion_ts_ms Int64,
    conversion_date  Date,
    position         UInt32,
    path_length      UInt32,
    inserted_at      DateTime DEFAULT now(),
    fit_id           String DEFAULT ''
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(conversion_date)
ORDER BY (conversion_id, model, version, touchpoint_id);
