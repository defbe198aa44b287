SELECT
    cohort_month AS Cohort,
    channel AS Channel,
    any(users) AS Users,
    sumIf(cumulative_revenue_micros, month_offset = 0) / 1000000 / any(users) AS `Month 0`,
    if(max(month_offset) >= 1, sumIf(cumulative_revenue_micros, month_offset = 1) / 1000000 / any(users), NULL) AS `Month 1`,
    if(max(month_offset) >= 2, sumIf(cumulative_revenue_micros, month_offset = 2) / 1000000 / any(users), NULL) AS `Month 2`,
    if(max(month_offset) >= 3, sumIf(cumulative_revenue_micros, month_offset = 3) / 1000000 / any(users), NULL) AS `Month 3`
FROM ${database}.cohort_value
WHERE cohort_month >= toStartOfMonth($__fromTime) AND cohort_month <= toDate($__toTime)
GROUP BY cohort_month, channel
ORDER BY Cohort, Users DESC, Channel
