-- latest_model_fits: the newest fit of each data-driven model and
-- parameters (markov of each order, shapley), a row per channel; what
-- `attributor report model_fits` prints. date is the day the fit was made
-- (UTC). effect is the channel's removal effect (markov) or the training
-- conversions credited to it (shapley); share its share of the credit.
DROP TABLE IF EXISTS {db}.latest_model_fits;
CREATE VIEW IF NOT EXISTS {db}.latest_model_fits AS
SELECT
    created_date AS date,
    model,
    params,
    fit_id,
    from_ms,
    to_ms,
    paths,
    conversions,
    channel,
    effect,
    share
FROM {db}.model_fits FINAL
ARRAY JOIN channels AS channel, effects AS effect, shares AS share
WHERE (model, params, created_ms) IN
(
    SELECT model, params, max(created_ms)
    FROM {db}.model_fits
    GROUP BY model, params
);
