-- time_to_conversion: per day, the distribution of the full days from a
-- conversion's first touch to the conversion (0: within 24 hours), overall
-- (channel 'all') and per channel of the first touch. The day is the UTC
-- date of the conversion. Conversions without a touchpoint in their window
-- are left out. Model-free: it reads the paths (conversion_paths).
--
-- Columns:
--   date
--   channel                   channel of the first touch, or 'all'
--   days_to_conversion        intDiv(conversion time - first touch time, 24 h)
--   conversions               conversions in the bucket
--   revenue_micros, revenue   their revenue
DROP TABLE IF EXISTS {db}.time_to_conversion;
CREATE VIEW IF NOT EXISTS {db}.time_to_conversion AS
SELECT
    date,
    channel,
    days_to_conversion,
    conversions,
    tc_revenue_micros AS revenue_micros,
    tc_revenue_micros / 1000000 AS revenue
FROM
(
    SELECT
        date,
        aj_channel AS channel,
        toUInt32(intDiv(time_to_conversion_ms, 86400000)) AS days_to_conversion,
        count() AS conversions,
        toInt64(sum(revenue_micros)) AS tc_revenue_micros
    FROM {db}.conversion_paths
    ARRAY JOIN [first_channel, 'all'] AS aj_channel
    WHERE touches > 0
    GROUP BY date, aj_channel, days_to_conversion
);
