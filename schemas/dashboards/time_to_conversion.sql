SELECT
    toString(days_to_conversion) AS Days,
    sum(conversions) AS Conversions
FROM ${database}.time_to_conversion
WHERE $__dateFilter(date) AND channel = 'all'
GROUP BY days_to_conversion
ORDER BY days_to_conversion
