-- The materialized views of credit_days and touchpoint_days as schema
-- versions 3 to 6 made them (schemas/clickhouse/008_rollups.sql then):
-- every insert wrote its days again, recorded or not.
DROP TABLE IF EXISTS {db}.credit_new_days_mv;
DROP TABLE IF EXISTS {db}.touchpoint_new_days_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.credit_days_mv TO {db}.credit_days AS
SELECT conversion_date AS date
FROM {db}.attributed_conversions
GROUP BY conversion_date;
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.touchpoint_days_mv TO {db}.touchpoint_days AS
SELECT event_date AS date
FROM {db}.touchpoints
GROUP BY event_date;
