-- credited_live as schema version 5 made it (schemas/clickhouse/
-- 011_rollup_views.sql then): one FINAL read of the days read live, unfolded
-- and aggregated as one stream.
-- credited_live: the rows of credited_conversions (the columns the
-- aggregates need) of the days whose credits are not validly rolled up.
-- The days are picked inside (18.16 does not push an outer WHERE into a
-- view), from credit_days, so that only their partitions are read.
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
