-- fit_id: the fit (model_fits.fit_id) a data-driven model (markov, shapley)
-- credited the row with; empty for the rule-based models. Added after
-- attributed_conversions' first release. ClickHouse 18.16 has no ADD COLUMN
-- IF NOT EXISTS: the migration runner takes "column already exists" from an
-- ADD COLUMN as done, so that this file may run on every start.
ALTER TABLE {db}.attributed_conversions ADD COLUMN fit_id String DEFAULT '';
