// Package report reads the analyst views that `attributor migrate` creates
// (schemas/clickhouse/02*_*.sql: channel_performance, model_comparison,
// assisted_conversions, ...) and prints them as aligned tables, CSV or JSON.
//
// A report is one view, summed over a date range: the views hold one row per
// day, and every report adds the days of [From, To] up and recomputes its
// ratios from the sums. The reports are a fixed registry; user input (dates,
// model, channel, limit) reaches ClickHouse only as bound query arguments.
package report
