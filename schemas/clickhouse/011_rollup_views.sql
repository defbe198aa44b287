-- The views over the daily rollups (008_rollups.sql; docs/DESIGN.md,
-- "Aggregates: daily rollups"). Each reads a day from the rollup tables
-- while the day's latest run is valid, and aggregates the day live from
-- the compact rows otherwise (never rolled up, or written since): the
-- answers are those of credited_conversions either way, only faster for
-- rolled-up days.

-- rollup_valid_days: per kind ('credits', 'touchpoints') and day, the run
-- whose rows stand for the day: its latest recorded run, when that run
-- started after the day's latest mark (nothing was written into the day
-- since the run read it).
DROP TABLE IF EXISTS {db}.rollup_valid_days;
CREATE VIEW IF NOT EXISTS {db}.rollup_valid_days AS
SELECT
    kind,
    date,
    rv_run_id AS run_id
FROM
(
    SELECT
        kind,
        date,
        max(run_id) AS rv_run_id,
        argMax(started_at, run_id) AS rv_started_at
    FROM {db}.rollup_runs
    GROUP BY kind, date
) AS rv_runs
ANY LEFT JOIN
(
    SELECT
        kind,
        date,
        max(marked_at) AS rv_marked_at
    FROM {db}.rollup_marks
    GROUP BY kind, date
) AS rv_marks USING (kind, date)
WHERE rv_marked_at < rv_started_at;

-- credited_live: the rows of credited_conversions (the columns the
-- aggregates need) of the days whose credits are not validly rolled up.
-- The days are picked inside (18.16 does not push an outer WHERE into a
-- view), from credit_days, so that only their granules are read.
--
-- It is two halves, the conversions whose cityHash64(conversion_id) is
-- below 2^63 and the others, joined by UNION ALL (schema version 6): in
-- ClickHouse 18.16 a FINAL read is one stream, and the unfolding and
-- aggregation above it ran on one core; each half is a stream of its own,
-- so the aggregates over this view unfold and aggregate the halves on two
-- cores and merge what they aggregated (distinct users too). Every
-- version of a conversion has its id, so FINAL sees them all in one half
-- and keeps the latest there, as over the whole; the top bit of the hash,
-- not its low bits, so that the halves stay even on a cluster, whose
-- shards split attributed_conversions by cityHash64(conversion_id) modulo
-- the shards. Each half reads the day's granules FINAL and keeps its own
-- conversions (about 0.15 s of a day's 0.8 s at 10M conversions).
DROP TABLE IF EXISTS {db}.credited_live;
CREATE VIEW IF NOT EXISTS {db}.credited_live AS
    SELECT
        conversion_date,
        conversion_type,
        currency,
        user_key,
        model,
        channel,
        source,
        medium,
        campaign,
        credit,
        revenue_micros
    FROM
    (
        SELECT
            conversion_date,
            conversion_type,
            currency,
            user_key,
            channel,
            source,
            medium,
            campaign,
            cl_models,
            arraySlice(cl_fractions, (cl_index - 1) * length(cl_models) + 1, length(cl_models)) AS cl_position_fractions,
            arraySlice(cl_micros, (cl_index - 1) * length(cl_models) + 1, length(cl_models)) AS cl_position_micros
        FROM
        (
            SELECT
                conversion_date,
                conversion_type,
                currency,
                user_key,
                if(path_length = 0, ['(none)'], channels) AS cl_channels,
                if(path_length = 0, [''], sources) AS cl_sources,
                if(path_length = 0, [''], mediums) AS cl_mediums,
                if(path_length = 0, [''], campaigns) AS cl_campaigns,
                models AS cl_models,
                credit_fractions AS cl_fractions,
                credit_micros AS cl_micros
            FROM {db}.attributed_conversions FINAL
            WHERE conversion_date IN
            (
                SELECT date
                FROM {db}.credit_days
                WHERE date NOT IN (SELECT date FROM {db}.rollup_valid_days WHERE kind = 'credits')
            )
            AND cityHash64(conversion_id) < 9223372036854775808
        )
        ARRAY JOIN
            cl_channels AS channel,
            cl_sources AS source,
            cl_mediums AS medium,
            cl_campaigns AS campaign,
            arrayEnumerate(cl_channels) AS cl_index
    )
    ARRAY JOIN
        cl_models AS model,
        cl_position_fractions AS credit,
        cl_position_micros AS revenue_micros
UNION ALL
    SELECT
        conversion_date,
        conversion_type,
        currency,
        user_key,
        model,
        channel,
        source,
        medium,
        campaign,
        credit,
        revenue_micros
    FROM
    (
        SELECT
            conversion_date,
            conversion_type,
            currency,
            user_key,
            channel,
            source,
            medium,
            campaign,
            cl_models,
            arraySlice(cl_fractions, (cl_index - 1) * length(cl_models) + 1, length(cl_models)) AS cl_position_fractions,
            arraySlice(cl_micros, (cl_index - 1) * length(cl_models) + 1, length(cl_models)) AS cl_position_micros
        FROM
        (
            SELECT
                conversion_date,
                conversion_type,
                currency,
                user_key,
                if(path_length = 0, ['(none)'], channels) AS cl_channels,
                if(path_length = 0, [''], sources) AS cl_sources,
                if(path_length = 0, [''], mediums) AS cl_mediums,
                if(path_length = 0, [''], campaigns) AS cl_campaigns,
                models AS cl_models,
                credit_fractions AS cl_fractions,
                credit_micros AS cl_micros
            FROM {db}.attributed_conversions FINAL
            WHERE conversion_date IN
            (
                SELECT date
                FROM {db}.credit_days
                WHERE date NOT IN (SELECT date FROM {db}.rollup_valid_days WHERE kind = 'credits')
            )
            AND cityHash64(conversion_id) >= 9223372036854775808
        )
        ARRAY JOIN
            cl_channels AS channel,
            cl_sources AS source,
            cl_mediums AS medium,
            cl_campaigns AS campaign,
            arrayEnumerate(cl_channels) AS cl_index
    )
    ARRAY JOIN
        cl_models AS model,
        cl_position_fractions AS credit,
        cl_position_micros AS revenue_micros;

-- credited_daily: credited_conversions summed per day x model x channel x
-- source x medium x campaign x conversion_type x currency. Read it instead
-- of credited_conversions for any aggregate of those columns: it reads a
-- few rows per day where credited_conversions unfolds every credited row.
--
-- Columns:
--   date                      UTC date of the conversion (conversion_date)
--   model, channel, source, medium, campaign, conversion_type, currency
--   conversions               sum of the credit (sum(credit))
--   revenue_micros, revenue   revenue credited (sum(revenue_micros), exact;
--                             float units)
--   credited_rows             rows of credited_conversions (count())
DROP TABLE IF EXISTS {db}.credited_daily;
CREATE VIEW IF NOT EXISTS {db}.credited_daily AS
SELECT
    date,
    model,
    channel,
    source,
    medium,
    campaign,
    conversion_type,
    currency,
    cd_conversions AS conversions,
    cd_micros AS revenue_micros,
    cd_micros / 1000000 AS revenue,
    cd_rows AS credited_rows
FROM
(
    SELECT
        date,
        model,
        channel,
        source,
        medium,
        campaign,
        conversion_type,
        currency,
        conversions AS cd_conversions,
        revenue_micros AS cd_micros,
        credited_rows AS cd_rows
    FROM {db}.credit_rollup
    WHERE (date, run_id) IN (SELECT date, run_id FROM {db}.rollup_valid_days WHERE kind = 'credits')
    UNION ALL
    SELECT
        conversion_date AS date,
        model,
        channel,
        source,
        medium,
        campaign,
        conversion_type,
        currency,
        toFloat64(sum(credit)) AS cd_conversions,
        toInt64(sum(revenue_micros)) AS cd_micros,
        toUInt64(count()) AS cd_rows
    FROM {db}.credited_live
    GROUP BY conversion_date, model, channel, source, medium, campaign, conversion_type, currency
);

-- channel_credits_daily: per day x model x channel x campaign, the credit,
-- the revenue credited and the distinct users the model credits (credit >
-- 0): the credited side of channel_performance and model_comparison.
DROP TABLE IF EXISTS {db}.channel_credits_daily;
CREATE VIEW IF NOT EXISTS {db}.channel_credits_daily AS
SELECT
    date,
    model,
    channel,
    campaign,
    cc_conversions AS conversions,
    cc_micros AS revenue_micros,
    cc_micros / 1000000 AS revenue,
    cc_users AS converting_users
FROM
(
    SELECT
        date,
        model,
        channel,
        campaign,
        conversions AS cc_conversions,
        revenue_micros AS cc_micros,
        converting_users AS cc_users
    FROM {db}.channel_rollup
    WHERE (date, run_id) IN (SELECT date, run_id FROM {db}.rollup_valid_days WHERE kind = 'credits')
    UNION ALL
    SELECT
        conversion_date AS date,
        model,
        channel,
        campaign,
        toFloat64(sum(credit)) AS cc_conversions,
        toInt64(sum(revenue_micros)) AS cc_micros,
        toUInt64(uniqExactIf(user_key, credit > 0)) AS cc_users
    FROM {db}.credited_live
    GROUP BY conversion_date, model, channel, campaign
);

-- reach_daily: per day (of the touchpoint) x channel x campaign, the
-- impressions, clicks, distinct users reached and the touchpoints' cost
-- (each rounded to micros): the reach side of channel_performance. A day
-- read live is read from touchpoints_by_day (009_touchpoints_by_day.sql),
-- which holds the day's touchpoints together: that day's rows, not its
-- month's.
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
    FROM {db}.touchpoints_by_day FINAL
    WHERE event_date IN
    (
        SELECT date
        FROM {db}.touchpoint_days
        WHERE date NOT IN (SELECT date FROM {db}.rollup_valid_days WHERE kind = 'touchpoints')
    )
    GROUP BY event_date, channel, campaign
);
