SELECT
    channel AS Channel,
    sum(impressions) AS Impressions,
    sum(clicks) AS Clicks,
    if(sum(impressions) > 0, sum(clicks) / sum(impressions), NULL) AS CTR,
    sum(conversions) AS Conversions,
    sum(revenue_micros) / 1000000 AS Revenue,
    sum(spend_micros) / 1000000 AS Spend,
    if(sum(conversions) > 0, sum(spend_micros) / 1000000 / sum(conversions), NULL) AS CPA,
    if(sum(spend_micros) > 0, sum(revenue_micros) / sum(spend_micros), NULL) AS ROAS
FROM ${database}.channel_performance
WHERE $__dateFilter(date) AND model = '${model}'
GROUP BY channel
ORDER BY Revenue DESC, Spend DESC, Channel
