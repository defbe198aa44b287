SELECT
    path AS Path,
    sum(conversions) AS Conversions,
    sum(revenue_micros) / 1000000 AS Revenue,
    sum(hours_to_conversion_sum) / sum(conversions) AS `Avg hours to conversion`
FROM ${database}.top_paths
WHERE $__dateFilter(date)
GROUP BY path
ORDER BY Conversions DESC, Revenue DESC, Path
LIMIT 20
