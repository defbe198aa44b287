SELECT
    toDateTime(date) AS time,
    channel,
    sum(revenue_micros) / 1000000 AS attributed_revenue
FROM ${database}.channel_performance
WHERE $__dateFilter(date) AND model = '${model}'
GROUP BY date, channel
ORDER BY date, channel
