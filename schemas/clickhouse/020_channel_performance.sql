-- channel_performance: per day x model x channel x campaign, what a channel
-- delivered and what it cost.
--
-- Days are UTC dates, taken from two clocks:
--   * credited figures (conversions, revenue, converting_users) by the date
--     of the conversion (credited_conversions.conversion_date);
--   * reach and cost (impressions, clicks, users_reached, spend) by the date
--     of the touchpoint (touchpoints.event_date) or of the spend row
--     (ad_spend.date).
-- A conversion on the 2nd credited to a click on the 1st counts on the 2nd;
-- the click and its cost on the 1st. Over a range of days both sides add up.
--
-- Columns:
--   date, model, channel, campaign
--   impressions, clicks       touchpoints of that day (raw events, FINAL)
--   ctr                       clicks / impressions (NULL without impressions)
--   users_reached             distinct users with a touchpoint on the row's
--                             channel and campaign that day
--   converting_users          distinct users whose conversion that day the
--                             model credits (credit > 0) to the channel and
--                             campaign
--   conversion_rate           converting_users / users_reached (NULL when
--                             nobody was reached). Both are distinct counts
--                             per day: summed over days they count user-days
--   conversions               attributed conversions: the sum of the credit
--   revenue_micros, revenue   attributed revenue (exact micros; float units)
--   spend_micros, spend       the cost of the day, channel and campaign
--   spend_source              'ad_spend' when the ad_spend feed (topic or
--                             `attributor spend import`) has rows for that
--                             day, channel and campaign, which are then the
--                             spend; else 'touchpoint_cost': the sum of the
--                             touchpoints' cost, each rounded to micros
--   cpa                       spend / conversions (NULL without conversions,
--                             or when the spend is below a cent)
--   roas                      revenue / spend, a ratio: 3.5 is 3.50 of revenue
--                             per 1.00 spent (NULL when the spend is below a
--                             cent: a ROAS over a spend that rounds to 0.00
--                             says nothing)
--
-- Every part of the UNION ALL names every column alike: ClickHouse 18.16
-- may match the columns of a part by name, and unnamed repeated constants
-- (two toInt64(0)) then land in the wrong columns once the parts of the
-- raw tables are merged.
--
-- Conversions with no touchpoint in their window are credited to channel
-- '(none)', campaign '': every model's revenue adds up to the total revenue.
-- The models are those present in attributed_conversions (the six built-in
-- ones while it is empty): those of the rollups and of the days read live;
-- reach and spend rows repeat under each of them, so that filtering on one
-- model gives the whole picture. Money columns assume one currency.
--
-- The credited side comes from channel_credits_daily and the reach side
-- from reach_daily (011_rollup_views.sql): rolled-up days from the daily
-- rollups, the others live from the credited rows and touchpoints. The
-- reach and spend rows are repeated under the models once, together (schema
-- version 6; before, each side read the models of the days read live).
DROP TABLE IF EXISTS {db}.channel_performance;
CREATE VIEW IF NOT EXISTS {db}.channel_performance AS
SELECT
    date,
    model,
    channel,
    campaign,
    impressions,
    clicks,
    if(impressions > 0, clicks / impressions, NULL) AS ctr,
    users_reached,
    converting_users,
    if(users_reached > 0, converting_users / users_reached, NULL) AS conversion_rate,
    conversions,
    revenue_micros,
    revenue_micros / 1000000 AS revenue,
    spend_micros,
    spend_micros / 1000000 AS spend,
    spend_source,
    if(conversions > 0 AND spend_micros >= 10000, spend_micros / 1000000 / conversions, NULL) AS cpa,
    if(spend_micros >= 10000, revenue_micros / spend_micros, NULL) AS roas
FROM
(
    SELECT
        date,
        model,
        channel,
        campaign,
        sum(p_impressions) AS impressions,
        sum(p_clicks) AS clicks,
        sum(p_users_reached) AS users_reached,
        sum(p_converting_users) AS converting_users,
        sum(p_conversions) AS conversions,
        sum(p_revenue_micros) AS revenue_micros,
        if(max(p_has_feed) = 1, sum(p_feed_micros), sum(p_touchpoint_cost_micros)) AS spend_micros,
        if(max(p_has_feed) = 1, 'ad_spend', 'touchpoint_cost') AS spend_source
    FROM
    (
        SELECT
            date,
            model,
            channel,
            campaign,
            toUInt64(0) AS p_impressions,
            toUInt64(0) AS p_clicks,
            toUInt64(0) AS p_users_reached,
            converting_users AS p_converting_users,
            conversions AS p_conversions,
            revenue_micros AS p_revenue_micros,
            toInt64(0) AS p_touchpoint_cost_micros,
            toInt64(0) AS p_feed_micros,
            toUInt8(0) AS p_has_feed
        FROM {db}.channel_credits_daily
        UNION ALL
        SELECT
            rs_date AS date,
            arrayJoin(if(
                (SELECT count() FROM {db}.attributed_conversions) > 0,
                (SELECT groupUniqArray(cp_model) FROM
                (
                    SELECT model AS cp_model FROM {db}.channel_rollup GROUP BY model
                    UNION ALL
                    SELECT arrayJoin(groupUniqArrayArray(models)) AS cp_model FROM {db}.attributed_conversions
                    WHERE conversion_date IN
                    (
                        SELECT date
                        FROM {db}.credit_days
                        WHERE date NOT IN (SELECT date FROM {db}.rollup_valid_days WHERE kind = 'credits')
                    )
                )),
                ['last_click', 'first_click', 'linear', 'time_decay', 'position_based', 'last_non_direct'])) AS model,
            rs_channel AS channel,
            rs_campaign AS campaign,
            rs_impressions AS p_impressions,
            rs_clicks AS p_clicks,
            rs_users_reached AS p_users_reached,
            toUInt64(0) AS p_converting_users,
            toFloat64(0) AS p_conversions,
            toInt64(0) AS p_revenue_micros,
            rs_touchpoint_cost_micros AS p_touchpoint_cost_micros,
            rs_feed_micros AS p_feed_micros,
            rs_has_feed AS p_has_feed
        FROM
        (
            SELECT
                date AS rs_date,
                channel AS rs_channel,
                campaign AS rs_campaign,
                impressions AS rs_impressions,
                clicks AS rs_clicks,
                users_reached AS rs_users_reached,
                cost_micros AS rs_touchpoint_cost_micros,
                toInt64(0) AS rs_feed_micros,
                toUInt8(0) AS rs_has_feed
            FROM {db}.reach_daily
            UNION ALL
            SELECT
                date AS rs_date,
                channel AS rs_channel,
                campaign AS rs_campaign,
                toUInt64(0) AS rs_impressions,
                toUInt64(0) AS rs_clicks,
                toUInt64(0) AS rs_users_reached,
                toInt64(0) AS rs_touchpoint_cost_micros,
                toInt64(sum(cost_micros)) AS rs_feed_micros,
                toUInt8(1) AS rs_has_feed
            FROM {db}.ad_spend FINAL
            GROUP BY date, channel, campaign
        )
    )
    GROUP BY date, model, channel, campaign
);
