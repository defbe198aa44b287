SELECT
    channel AS Channel,
    sum(last_click_revenue) AS `Last click`,
    sum(first_click_revenue) AS `First click`,
    sum(linear_revenue) AS Linear,
    sum(time_decay_revenue) AS `Time decay`,
    sum(position_based_revenue) AS `Position based`,
    sum(last_non_direct_revenue) AS `Last non-direct`,
    sum(markov_revenue) AS Markov,
    sum(shapley_revenue) AS Shapley
FROM ${database}.model_comparison
WHERE $__dateFilter(date)
GROUP BY channel
ORDER BY `Last click` DESC, Channel
