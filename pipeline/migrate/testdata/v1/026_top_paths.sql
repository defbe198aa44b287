-- top_paths: per day, the channel paths that converted ('paid_social >
-- email > paid_search', first touch first; '(none)' for conversions without
-- a touchpoint in their window), with their conversions, revenue and time
-- from first touch to conversion. The day is the UTC date of the
-- conversion. Order by conversions to get the most frequent paths; over a
-- date range, sum conversions, revenue and hours_to_conversion_sum, and
-- divide the hours by the conversions.
--
-- Columns:
--   date, path
--   touches                   touchpoints in the path
--   conversions               conversions with that path
--   revenue_micros, revenue   their revenue
--   hours_to_conversion_sum   sum of their hours from first touch to conversion
--   avg_hours_to_conversion   hours_to_conversion_sum / conversions
DROP TABLE IF EXISTS {db}.top_paths;
CREATE VIEW IF NOT EXISTS {db}.top_paths AS
SELECT
    date,
    path,
    touches,
    conversions,
    tp_revenue_micros AS revenue_micros,
    tp_revenue_micros / 1000000 AS revenue,
    tp_hours AS hours_to_conversion_sum,
    tp_hours / conversions AS avg_hours_to_conversion
FROM
(
    SELECT
        date,
        path,
        touches,
        count() AS conversions,
        toInt64(sum(revenue_micros)) AS tp_revenue_micros,
        sum(time_to_conversion_ms / 3600000) AS tp_hours
    FROM {db}.conversion_paths
    GROUP BY date, path, touches
);
