-- The current credited rows: for each conversion only its latest version,
-- each row once. Same columns as `attributor replay` prints, plus
-- conveniences (revenue as a float, DateTime columns, the version).
-- fit_id names the model_fits row a markov or shapley row was credited
-- with; it is empty for the rule-based models.
DROP TABLE IF EXISTS {db}.credited_conversions;
CREATE VIEW IF NOT EXISTS {db}.credited_conversions AS
SELECT
    conversion_id,
    conversion_type,
    user_key,
    model,
    touchpoint_id,
    channel,
    source,
    medium,
    campaign,
    interaction,
    credit,
    revenue_micros,
    revenue_micros / 1000000 AS revenue,
    currency,
    touchpoint_ts_ms,
    conversion_ts_ms,
    toDateTime(intDiv(touchpoint_ts_ms, 1000)) AS touchpoint_time,
    toDateTime(intDiv(conversion_ts_ms, 1000)) AS conversion_time,
    conversion_date,
    position,
    path_length,
    fit_id,
    version
FROM {db}.attributed_conversions FINAL
WHERE (conversion_id, version) IN
(
    SELECT conversion_id, max(version)
    FROM {db}.attributed_conversions
    GROUP BY conversion_id
);
