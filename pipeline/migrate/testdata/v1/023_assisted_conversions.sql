-- assisted_conversions: per day x channel, the conversions the channel
-- assisted (it is in the path, not as the last touch) and those it closed
-- (it is the last touch), and their ratio. The day is the UTC date of the
-- conversion. A conversion counts once per channel: email > email >
-- paid_search is one assist for email and one close for paid_search; a
-- channel can both assist and close the same conversion (email > email).
-- Conversions without a touchpoint in their window are left out. Model-free:
-- it reads the paths (conversion_paths).
--
-- Columns:
--   date, channel
--   assisted_conversions      conversions with the channel before the last touch
--   closed_conversions        conversions with the channel as the last touch
--   assist_ratio              assisted / closed (NULL when it closed none):
--                             above 1 the channel mostly assists, below 1 it
--                             mostly closes
--   assisted_revenue, closed_revenue   the whole revenue of those conversions
DROP TABLE IF EXISTS {db}.assisted_conversions;
CREATE VIEW IF NOT EXISTS {db}.assisted_conversions AS
SELECT
    date,
    channel,
    assisted_conversions,
    closed_conversions,
    if(closed_conversions > 0, assisted_conversions / closed_conversions, NULL) AS assist_ratio,
    assisted_micros / 1000000 AS assisted_revenue,
    closed_micros / 1000000 AS closed_revenue
FROM
(
    SELECT
        date,
        channel,
        toUInt64(sum(ac_assisted)) AS assisted_conversions,
        toUInt64(sum(ac_closed)) AS closed_conversions,
        toInt64(sumIf(ac_revenue_micros, ac_assisted = 1)) AS assisted_micros,
        toInt64(sumIf(ac_revenue_micros, ac_closed = 1)) AS closed_micros
    FROM
    (
        SELECT
            conversion_id,
            date,
            aj_channel AS channel,
            max(aj_position < touches) AS ac_assisted,
            max(aj_position = touches) AS ac_closed,
            any(revenue_micros) AS ac_revenue_micros
        FROM {db}.conversion_paths
        ARRAY JOIN channels AS aj_channel, arrayEnumerate(channels) AS aj_position
        WHERE touches > 0
        GROUP BY conversion_id, date, aj_channel
    )
    GROUP BY date, channel
);
