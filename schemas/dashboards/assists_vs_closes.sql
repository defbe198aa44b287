SELECT
    channel AS Channel,
    sum(assisted_conversions) AS Assisted,
    sum(closed_conversions) AS Closed,
    if(sum(closed_conversions) > 0, sum(assisted_conversions) / sum(closed_conversions), NULL) AS `Assist ratio`
FROM ${database}.assisted_conversions
WHERE $__dateFilter(date)
GROUP BY channel
ORDER BY Closed DESC, Channel
