-- The current credited rows: one per conversion x model x touchpoint, for
-- each conversion only its latest version. Same columns as `attributor
-- replay` prints, plus conveniences (revenue as a float, DateTime columns,
-- the version). fit_id names the model_fits row a markov or shapley row was
-- credited with; it is empty for the rule-based models.
--
-- It unfolds the compact rows of attributed_conversions (FINAL: the table
-- engine keeps each conversion's highest version) in two ARRAY JOINs: the
-- path first (one row per touchpoint; an empty path gives the one
-- unattributed row, position 0, channel '(none)'), then, for the
-- touchpoint at position p, the models with their credits, which the
-- position-major layout holds together at [(p-1)*length(models) + 1,
-- p*length(models)]. No array is copied once per output row: the work is
-- in proportion to the rows shown.
DROP TABLE IF EXISTS {db}.credited_conversions;
CREATE VIEW IF NOT EXISTS {db}.credited_conversions AS
SELECT
    conversion_id,
    conversion_type,
    user_key,
    model,
    touchpoint_id,
    channel,
    source,
    medium,
    campaign,
    interaction,
    credit,
    revenue_micros,
    revenue_micros / 1000000 AS revenue,
    currency,
    touchpoint_ts_ms,
    conversion_ts_ms,
    toDateTime(intDiv(touchpoint_ts_ms, 1000)) AS touchpoint_time,
    toDateTime(intDiv(conversion_ts_ms, 1000)) AS conversion_time,
    conversion_date,
    position,
    path_length,
    fit_id,
    version
FROM
(
    SELECT
        conversion_id,
        conversion_type,
        user_key,
        currency,
        conversion_ts_ms,
        conversion_date,
        version,
        path_length,
        touchpoint_id,
        channel,
        source,
        medium,
        campaign,
        interaction,
        touchpoint_ts_ms,
        toUInt32(if(path_length = 0, 0, cc_index)) AS position,
        cc_models,
        cc_fit_ids,
        arraySlice(cc_fractions, (cc_index - 1) * length(cc_models) + 1, length(cc_models)) AS cc_position_fractions,
        arraySlice(cc_micros, (cc_index - 1) * length(cc_models) + 1, length(cc_models)) AS cc_position_micros
    FROM
    (
        SELECT
            conversion_id,
            conversion_type,
            user_key,
            currency,
            conversion_ts_ms,
            conversion_date,
            version,
            path_length,
            if(path_length = 0, [''], touchpoint_ids) AS cc_touchpoint_ids,
            if(path_length = 0, ['(none)'], channels) AS cc_channels,
            if(path_length = 0, [''], sources) AS cc_sources,
            if(path_length = 0, [''], mediums) AS cc_mediums,
            if(path_length = 0, [''], campaigns) AS cc_campaigns,
            if(path_length = 0, [''], interactions) AS cc_interactions,
            if(path_length = 0, [toInt64(0)], touchpoint_ts_ms) AS cc_touchpoint_ts_ms,
            models AS cc_models,
            fit_ids AS cc_fit_ids,
            credit_fractions AS cc_fractions,
            credit_micros AS cc_micros
        FROM {db}.attributed_conversions FINAL
    )
    ARRAY JOIN
        cc_touchpoint_ids AS touchpoint_id,
        cc_channels AS channel,
        cc_sources AS source,
        cc_mediums AS medium,
        cc_campaigns AS campaign,
        cc_interactions AS interaction,
        cc_touchpoint_ts_ms AS touchpoint_ts_ms,
        arrayEnumerate(cc_touchpoint_ids) AS cc_index
)
ARRAY JOIN
    cc_models AS model,
    cc_fit_ids AS fit_id,
    cc_position_fractions AS credit,
    cc_position_micros AS revenue_micros;
