-- model_comparison: per day x channel, the conversions and revenue that each
-- model credits to the channel, side by side, and each model's difference
-- from last click. The day is the UTC date of the conversion; every column
-- is a sum, so summing the rows of a date range gives the range's figures.
--
-- Columns:
--   date, channel
--   <model>_conversions       sum of the credit the model gives the channel
--   <model>_revenue           revenue the model credits to the channel
--   <model>_conversions_diff  <model>_conversions - last_click_conversions
--   <model>_revenue_diff      <model>_revenue - last_click_revenue
-- for the models last_click, first_click, linear, time_decay,
-- position_based and last_non_direct, and the data-driven markov and
-- shapley (a model the attributor does not run, or that had no fit yet,
-- shows zeros; `attributor report model_comparison` shows only the models
-- present in the range). Conversions without a touchpoint in their window are
-- credited to channel '(none)' under every model, so each model's revenue
-- column sums to the total revenue.
DROP TABLE IF EXISTS {db}.model_comparison;
CREATE VIEW IF NOT EXISTS {db}.model_comparison AS
SELECT
    date,
    channel,
    last_click_conversions,
    last_click_micros / 1000000 AS last_click_revenue,
    first_click_conversions,
    first_click_micros / 1000000 AS first_click_revenue,
    linear_conversions,
    linear_micros / 1000000 AS linear_revenue,
    time_decay_conversions,
    time_decay_micros / 1000000 AS time_decay_revenue,
    position_based_conversions,
    position_based_micros / 1000000 AS position_based_revenue,
    last_non_direct_conversions,
    last_non_direct_micros / 1000000 AS last_non_direct_revenue,
    markov_conversions,
    markov_micros / 1000000 AS markov_revenue,
    shapley_conversions,
    shapley_micros / 1000000 AS shapley_revenue,
    first_click_conversions - last_click_conversions AS first_click_conversions_diff,
    (first_click_micros - last_click_micros) / 1000000 AS first_click_revenue_diff,
    linear_conversions - last_click_conversions AS linear_conversions_diff,
    (linear_micros - last_click_micros) / 1000000 AS linear_revenue_diff,
    time_decay_conversions - last_click_conversions AS time_decay_conversions_diff,
    (time_decay_micros - last_click_micros) / 1000000 AS time_decay_revenue_diff,
    position_based_conversions - last_click_conversions AS position_based_conversions_diff,
    (position_based_micros - last_click_micros) / 1000000 AS position_based_revenue_diff,
    last_non_direct_conversions - last_click_conversions AS last_non_direct_conversions_diff,
    (last_non_direct_micros - last_click_micros) / 1000000 AS last_non_direct_revenue_diff,
    markov_conversions - last_click_conversions AS markov_conversions_diff,
    (markov_micros - last_click_micros) / 1000000 AS markov_revenue_diff,
    shapley_conversions - last_click_conversions AS shapley_conversions_diff,
    (shapley_micros - last_click_micros) / 1000000 AS shapley_revenue_diff
FROM
(
    SELECT
        date,
        channel,
        sumIf(conversions, model = 'last_click') AS last_click_conversions,
        toInt64(sumIf(revenue_micros, model = 'last_click')) AS last_click_micros,
        sumIf(conversions, model = 'first_click') AS first_click_conversions,
        toInt64(sumIf(revenue_micros, model = 'first_click')) AS first_click_micros,
        sumIf(conversions, model = 'linear') AS linear_conversions,
        toInt64(sumIf(revenue_micros, model = 'linear')) AS linear_micros,
        sumIf(conversions, model = 'time_decay') AS time_decay_conversions,
        toInt64(sumIf(revenue_micros, model = 'time_decay')) AS time_decay_micros,
        sumIf(conversions, model = 'position_based') AS position_based_conversions,
        toInt64(sumIf(revenue_micros, model = 'position_based')) AS position_based_micros,
        sumIf(conversions, model = 'last_non_direct') AS last_non_direct_conversions,
        toInt64(sumIf(revenue_micros, model = 'last_non_direct')) AS last_non_direct_micros,
        sumIf(conversions, model = 'markov') AS markov_conversions,
        toInt64(sumIf(revenue_micros, model = 'markov')) AS markov_micros,
        sumIf(conversions, model = 'shapley') AS shapley_conversions,
        toInt64(sumIf(revenue_micros, model = 'shapley')) AS shapley_micros
    FROM {db}.channel_credits_daily
    GROUP BY date, channel
);
