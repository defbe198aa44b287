-- cohort_value: users by the month and channel of their first touch, and the
-- revenue per user their cohort accumulated over the following months.
-- A user's first touch is their earliest stored touchpoint (ties by
-- event_id); revenue is that of their current credited conversions, by the
-- UTC month of the conversion. Month 0 is the cohort's own month; the
-- months run up to the latest month with a touchpoint or a conversion.
-- Revenue of users without touchpoints, or before a user's first touch, is
-- in no cohort.
--
-- Columns:
--   date                      first day of the cohort's month (= cohort_month)
--   cohort_month              first day of the month of the first touch
--   channel                   channel of the first touch
--   month_offset              months since cohort_month (0, 1, ...)
--   users                     users in the cohort
--   revenue_micros, revenue   the cohort's revenue in that month
--   cumulative_revenue_micros, cumulative_revenue   its revenue up to and
--                             including that month
--   cumulative_revenue_per_user   cumulative_revenue / users
DROP TABLE IF EXISTS {db}.cohort_value;
CREATE VIEW IF NOT EXISTS {db}.cohort_value AS
SELECT
    cohort_month AS date,
    cohort_month,
    channel,
    month_offset,
    users,
    cv_month_micros AS revenue_micros,
    cv_month_micros / 1000000 AS revenue,
    cv_cumulative_micros AS cumulative_revenue_micros,
    cv_cumulative_micros / 1000000 AS cumulative_revenue,
    cv_cumulative_micros / 1000000 / users AS cumulative_revenue_per_user
FROM
(
    SELECT
        cohort_month,
        channel,
        users,
        month_offset,
        toInt64(arraySum(arrayFilter((r, o) -> o = month_offset, cv_revenues, cv_offsets))) AS cv_month_micros,
        toInt64(arraySum(arrayFilter((r, o) -> o <= month_offset, cv_revenues, cv_offsets))) AS cv_cumulative_micros
    FROM
    (
        SELECT
            cohort_month,
            u_channel AS channel,
            toUInt64(uniqExact(user_key)) AS users,
            groupArrayIf(u_revenue_micros, u_revenue_micros > 0 AND u_offset >= 0) AS cv_revenues,
            groupArrayIf(u_offset, u_revenue_micros > 0 AND u_offset >= 0) AS cv_offsets,
            max(u_last_offset) AS cv_last_offset
        FROM
        (
            SELECT
                user_key,
                cohort_month,
                u_channel,
                toInt64(toYear(u_month) * 12 + toMonth(u_month)) - toInt64(toYear(cohort_month) * 12 + toMonth(cohort_month)) AS u_offset,
                toInt64(toYear(u_end_month) * 12 + toMonth(u_end_month)) - toInt64(toYear(cohort_month) * 12 + toMonth(cohort_month)) AS u_last_offset,
                u_revenue_micros
            FROM
            (
                SELECT
                    user_key,
                    toStartOfMonth(min(event_date)) AS cohort_month,
                    argMin(channel, (ts_ms, event_id)) AS u_channel,
                    toStartOfMonth(greatest(
                        (SELECT max(event_date) FROM {db}.touchpoints),
                        (SELECT max(event_date) FROM {db}.conversions))) AS u_end_month
                FROM {db}.touchpoints FINAL
                GROUP BY user_key
            ) AS cohort_users
            ALL LEFT JOIN
            (
                SELECT
                    user_key,
                    toStartOfMonth(date) AS u_month,
                    toInt64(sum(revenue_micros)) AS u_revenue_micros
                FROM {db}.conversion_paths
                GROUP BY user_key, u_month
            ) AS user_months
            USING (user_key)
        )
        GROUP BY cohort_month, u_channel
    )
    ARRAY JOIN range(toUInt64(cv_last_offset + 1)) AS month_offset
);
