SELECT
    toString(touches) AS Touches,
    sum(conversions) AS Conversions
FROM ${database}.path_length
WHERE $__dateFilter(date) AND channel = 'all'
GROUP BY touches
ORDER BY touches
