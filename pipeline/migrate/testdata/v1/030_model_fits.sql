-- Fits of the data-driven models (markov, shapley): one row per fit, never
-- changed. fit_id names the fit on every credited row of its model. params
-- is the fit's parameters as JSON ({"order":1} for markov, {} for shapley);
-- [from_ms, to_ms) its training window. channels, effects and shares are
-- parallel arrays, one entry per channel: effects holds the removal effect
-- (markov) or the training conversions credited (shapley), shares each
-- channel's share of the credit. fit_json is the whole fit, transition or
-- set table included: what the stream loads to apply it.
CREATE TABLE IF NOT EXISTS {db}.model_fits
(
    fit_id          String,
    model           String,
    params          String,
    from_ms         Int64,
    to_ms           Int64,
    distinct_paths  UInt64,
    paths           UInt64,
    conversions     UInt64,
    nulls           UInt64,
    channels        Array(String),
    effects         Array(Float64),
    shares          Array(Float64),
    warnings        Array(String),
    fit_json        String,
    created_ms      Int64,
    created_date    Date
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(created_date)
ORDER BY (model, created_ms, fit_id);
