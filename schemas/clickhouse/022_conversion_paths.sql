-- conversion_paths: one row per current conversion with its channel path,
-- the base of the journey views below (assisted_conversions,
-- time_to_conversion, path_length, top_paths, cohort_value).
--
-- It reads the compact rows of attributed_conversions (FINAL: each
-- conversion's latest version), which hold the path once, so that it
-- unfolds and groups nothing; a retraction (a row without models, under
-- a day the conversion left) is not a conversion.
--
-- Columns:
--   conversion_id, user_key, conversion_type, currency
--   date                      UTC date of the conversion
--   conversion_ts_ms          time of the conversion, epoch milliseconds
--   revenue_micros, revenue   the conversion's whole revenue
--   touches                   touchpoints in the path (0: none in the window)
--   channels                  the channels of the path, first touch first
--                             (['(none)'] for a conversion without a path)
--   path                      channels joined by ' > '
--   first_channel             channel of the first touch ('(none)' without)
--   first_touch_ts_ms         time of the first touch (0 without)
--   time_to_conversion_ms     conversion_ts_ms - first_touch_ts_ms (0 without)
DROP TABLE IF EXISTS {db}.conversion_paths;
CREATE VIEW IF NOT EXISTS {db}.conversion_paths AS
SELECT
    conversion_id,
    cp_user_key AS user_key,
    cp_conversion_type AS conversion_type,
    cp_currency AS currency,
    cp_date AS date,
    cp_conversion_ts_ms AS conversion_ts_ms,
    cp_revenue_micros AS revenue_micros,
    cp_revenue_micros / 1000000 AS revenue,
    cp_touches AS touches,
    cp_channels AS channels,
    arrayStringConcat(cp_channels, ' > ') AS path,
    cp_channels[1] AS first_channel,
    cp_first_touch_ts_ms AS first_touch_ts_ms,
    if(cp_touches > 0, cp_conversion_ts_ms - cp_first_touch_ts_ms, toInt64(0)) AS time_to_conversion_ms
FROM
(
    SELECT
        conversion_id,
        user_key AS cp_user_key,
        conversion_type AS cp_conversion_type,
        currency AS cp_currency,
        conversion_date AS cp_date,
        conversion_ts_ms AS cp_conversion_ts_ms,
        revenue_micros AS cp_revenue_micros,
        path_length AS cp_touches,
        if(path_length = 0, ['(none)'], channels) AS cp_channels,
        if(path_length = 0, toInt64(0), arrayReduce('min', touchpoint_ts_ms)) AS cp_first_touch_ts_ms
    FROM {db}.attributed_conversions FINAL
    WHERE notEmpty(models)
);
