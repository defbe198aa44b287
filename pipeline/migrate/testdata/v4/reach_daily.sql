-- reach_daily as schema version 4 made it (schemas/clickhouse/
-- 011_rollup_views.sql then): its live days read touchpoints FINAL.
-- reach_daily: per day (of the touchpoint) x channel x campaign, the
-- impressions, clicks, distinct users reached and the touchpoints' cost
-- (each rounded to micros): the reach side of channel_performance.
DROP TABLE IF EXISTS {db}.reach_daily;
CREATE VIEW IF NOT EXISTS {db}.reach_daily AS
SELECT
    date,
    channel,
    campaign,
    impressions,
    clicks,
    users_reached,
    cost_micros
FROM
(
    SELECT
        date,
        channel,
        campaign,
        impressions,
        clicks,
        users_reached,
        cost_micros
    FROM {db}.reach_rollup
    WHERE (date, run_id) IN (SELECT date, run_id FROM {db}.rollup_valid_days WHERE kind = 'touchpoints')
    UNION ALL
    SELECT
        event_date AS date,
        channel,
        campaign,
        toUInt64(countIf(interaction = 'impression')) AS impressions,
        toUInt64(countIf(interaction = 'click')) AS clicks,
        toUInt64(uniqExact(user_key)) AS users_reached,
        toInt64(sum(toInt64(floor(cost * 1000000 + 0.5)))) AS cost_micros
    FROM {db}.touchpoints FINAL
    WHERE event_date IN
    (
        SELECT date
        FROM {db}.touchpoint_days
        WHERE date NOT IN (SELECT date FROM {db}.rollup_valid_days WHERE kind = 'touchpoints')
    )
    GROUP BY event_date, channel, campaign
);
