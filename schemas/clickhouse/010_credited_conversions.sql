-- The current credited rows: one per conversion x model x touchpoint, for
-- each conversion only its latest version. Same columns as `attributor
-- replay` prints, plus conveniences (revenue as a float, DateTime columns,
-- the version). fit_id names the model_fits row a markov or shapley row was
-- credited with; it is empty for the rule-based models.
--
-- It unfolds the compact rows of attributed_conversions (FINAL: the table
-- engine keeps each conversion's highest version) with one ARRAY JOIN over
-- the flattened credits: entry cc_index belongs to model
-- intDiv(cc_index - 1, greatest(path_length, 1)) + 1 and to touchpoint
-- position (cc_index - 1) % path_length + 1 (0, the unattributed row, when
-- the path is empty; an index of 0 reads '' and 0 from the path arrays).
DROP TABLE IF EXISTS {db}.credited_conversions;
CREATE VIEW IF NOT EXISTS {db}.credited_conversions AS
SELECT
    conversion_id,
    conversion_type,
    user_key,
    cc_models[toUInt32(intDiv(cc_index - 1, greatest(cc_path_length, 1)) + 1)] AS model,
    cc_touchpoint_ids[position] AS touchpoint_id,
    if(position = 0, '(none)', cc_channels[position]) AS channel,
    cc_sources[position] AS source,
    cc_mediums[position] AS medium,
    cc_campaigns[position] AS campaign,
    cc_interactions[position] AS interaction,
    credit,
    revenue_micros,
    revenue_micros / 1000000 AS revenue,
    currency,
    cc_touchpoint_ts_ms[position] AS touchpoint_ts_ms,
    conversion_ts_ms,
    toDateTime(intDiv(touchpoint_ts_ms, 1000)) AS touchpoint_time,
    toDateTime(intDiv(conversion_ts_ms, 1000)) AS conversion_time,
    conversion_date,
    toUInt32(if(cc_path_length = 0, 0, (cc_index - 1) % greatest(cc_path_length, 1) + 1)) AS position,
    cc_path_length AS path_length,
    cc_fit_ids[toUInt32(intDiv(cc_index - 1, greatest(cc_path_length, 1)) + 1)] AS fit_id,
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
        path_length AS cc_path_length,
        touchpoint_ids AS cc_touchpoint_ids,
        channels AS cc_channels,
        sources AS cc_sources,
        mediums AS cc_mediums,
        campaigns AS cc_campaigns,
        interactions AS cc_interactions,
        touchpoint_ts_ms AS cc_touchpoint_ts_ms,
        models AS cc_models,
        fit_ids AS cc_fit_ids,
        credit_fractions AS cc_fractions,
        credit_micros AS cc_micros
    FROM {db}.attributed_conversions FINAL
)
ARRAY JOIN
    cc_fractions AS credit,
    cc_micros AS revenue_micros,
    arrayEnumerate(cc_fractions) AS cc_index;
