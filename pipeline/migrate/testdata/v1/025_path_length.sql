-- path_length: per day, the distribution of the touchpoints per conversion,
-- overall (channel 'all') and per channel of the first touch. The day is the
-- UTC date of the conversion. Conversions without a touchpoint in their
-- window have 0 touches and first-touch channel '(none)'. Model-free: it
-- reads the paths (conversion_paths).
--
-- Columns:
--   date
--   channel                   channel of the first touch, or 'all'
--   touches                   touchpoints in the path
--   conversions               conversions with that many touches
--   revenue_micros, revenue   their revenue
DROP TABLE IF EXISTS {db}.path_length;
CREATE VIEW IF NOT EXISTS {db}.path_length AS
SELECT
    date,
    channel,
    touches,
    conversions,
    pl_revenue_micros AS revenue_micros,
    pl_revenue_micros / 1000000 AS revenue
FROM
(
    SELECT
        date,
        aj_channel AS channel,
        touches,
        count() AS conversions,
        toInt64(sum(revenue_micros)) AS pl_revenue_micros
    FROM {db}.conversion_paths
    ARRAY JOIN [first_channel, 'all'] AS aj_channel
    GROUP BY date, aj_channel, touches
);
