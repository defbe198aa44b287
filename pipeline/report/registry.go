package report

import (
	"slices"
	"strings"

	"github.com/attributor/attributor/attribution"
)

// col is a column computed by expr over the view's rows.
func col(name string, kind Kind, expr string) Column {
	return Column{Name: name, Kind: kind, expr: expr}
}

// key is a dimension of the view, printed as it is.
func key(name string, kind Kind) Column { return col(name, kind, name) }

// sum is a column summed over the days of the range.
func sum(name string, kind Kind) Column { return col(name, kind, "sum("+name+")") }

// money sums an exact micros column and prints it in currency units.
func money(name, micros string) Column { return col(name, Money, "sum("+micros+") / 1000000") }

// ratio divides two sums, NULL when the denominator is 0.
func ratio(name, num, den string) Column {
	return col(name, Ratio, "if(sum("+den+") > 0, sum("+num+") / sum("+den+"), NULL)")
}

// percent is a ratio of a part to its whole, printed as a percentage.
func percent(name, num, den string) Column {
	c := ratio(name, num, den)
	c.Kind = Percent
	return c
}

// minSpendMicros is the least spend that CPA and ROAS divide by: below a
// cent, a ROAS of 750000% says nothing, so they are NULL (blank).
const minSpendMicros = "10000"

var registry = []*Report{
	{
		Name:    "model_fits",
		View:    "latest_model_fits",
		Summary: "the latest fit of each data-driven model (markov per order, shapley): its id, window and, per channel, removal effect or credited conversions and share",
		Columns: []Column{
			key("model", Text), key("params", Text), key("fit_id", Text),
			col("window_from", Text, "toString(toDateTime(intDiv(from_ms, 1000), 'UTC'))"),
			col("window_to", Text, "toString(toDateTime(intDiv(to_ms, 1000), 'UTC'))"),
			col("paths", Count, "any(paths)"), col("conversions", Count, "any(conversions)"),
			key("channel", Text), col("effect", Number, "any(effect)"), col("share", Percent, "any(share)"),
		},
		HasModel: true, HasChannel: true,
		DefaultModel: AllModels,
		groupBy:      []string{"model", "params", "fit_id", "from_ms", "to_ms", "channel"},
		orderBy:      []string{"model", "params", "-share", "channel"},
	},
	{
		Name:    "channel_performance",
		Summary: "per channel (--by campaign: and campaign) under one model (--model, default linear): clicks, CTR, conversions, revenue, spend, CPA, ROAS",
		Columns: []Column{
			key("model", Text), key("channel", Text), key("campaign", Text),
			sum("impressions", Count), sum("clicks", Count), percent("ctr", "clicks", "impressions"),
			sum("users_reached", Count), sum("converting_users", Count), percent("conversion_rate", "converting_users", "users_reached"),
			sum("conversions", Number), money("revenue", "revenue_micros"), money("spend", "spend_micros"),
			col("spend_source", Text, "if(min(spend_source) = max(spend_source), min(spend_source), 'mixed')"),
			col("cpa", Money, "if(sum(conversions) > 0 AND sum(spend_micros) >= "+minSpendMicros+", sum(spend_micros) / 1000000 / sum(conversions), NULL)"),
			col("roas", Ratio, "if(sum(spend_micros) >= "+minSpendMicros+", sum(revenue_micros) / sum(spend_micros), NULL)"),
		},
		HasModel: true, HasChannel: true,
		DefaultModel: "linear",
		By:           []string{"channel", "campaign"},
		Default: func(res *Result, f Filter) error {
			names := []string{"channel", "campaign", "clicks", "ctr", "conversions", "revenue", "spend", "cpa", "roas"}
			if f.Model == AllModels {
				names = append([]string{"model"}, names...)
			}
			return res.pick(names...)
		},
		groupBy: []string{"model", "channel", "campaign"},
		orderBy: []string{"model", "-revenue", "-spend", "channel", "campaign"},
	},
	{
		Name:       "model_comparison",
		Summary:    "per channel: the conversions every model credits, side by side (--columns for revenue and each model minus last click)",
		Columns:    modelComparisonColumns(),
		HasChannel: true,
		Default:    modelComparisonDefault,
		groupBy:    []string{"channel"},
		orderBy:    []string{"-last_click_revenue", "channel"},
	},
	{
		Name:    "assisted_conversions",
		Summary: "per channel: conversions it assisted (in the path) and closed (last touch), and their ratio (--columns all: and revenue)",
		Columns: []Column{
			key("channel", Text),
			sum("assisted_conversions", Count), sum("closed_conversions", Count),
			ratio("assist_ratio", "assisted_conversions", "closed_conversions"),
			sum("assisted_revenue", Money), sum("closed_revenue", Money),
		},
		HasChannel: true,
		Default: func(res *Result, _ Filter) error {
			return res.pick("channel", "assisted_conversions", "closed_conversions", "assist_ratio")
		},
		groupBy: []string{"channel"},
		orderBy: []string{"-closed_conversions", "-assisted_conversions", "channel"},
	},
	{
		Name:    "time_to_conversion",
		Summary: "conversions by full days from first touch to conversion, overall ('all') and per first-touch channel",
		Columns: []Column{
			key("channel", Text), key("days_to_conversion", Count),
			sum("conversions", Count), money("revenue", "revenue_micros"),
		},
		HasChannel: true,
		groupBy:    []string{"channel", "days_to_conversion"},
		orderBy:    []string{"channel", "days_to_conversion"},
	},
	{
		Name:    "path_length",
		Summary: "conversions by touchpoints in the path, overall ('all') and per first-touch channel",
		Columns: []Column{
			key("channel", Text), key("touches", Count),
			sum("conversions", Count), money("revenue", "revenue_micros"),
		},
		HasChannel: true,
		groupBy:    []string{"channel", "touches"},
		orderBy:    []string{"channel", "touches"},
	},
	{
		Name:    "top_paths",
		Summary: "the most frequent converting channel paths, with revenue and average hours to conversion",
		Columns: []Column{
			key("path", Text), key("touches", Count),
			sum("conversions", Count), money("revenue", "revenue_micros"),
			col("avg_hours_to_conversion", Hours, "sum(hours_to_conversion_sum) / sum(conversions)"),
		},
		DefaultLimit: 20,
		groupBy:      []string{"path", "touches"},
		orderBy:      []string{"-conversions", "-revenue", "path"},
	},
	{
		Name:    "conversion",
		View:    "credited_conversions",
		Summary: "one conversion (--id): each model's credit and revenue for each touchpoint of its path, its current version (--columns all: ids, source, medium, currency, version)",
		Columns: []Column{
			key("model", Text), col("position", Count, "position"), key("touchpoint_id", Text),
			col("touchpoint_time", Text, "if(path_length = 0, '', toString(toDateTime(intDiv(touchpoint_ts_ms, 1000), 'UTC')))"),
			key("channel", Text), key("source", Text), key("medium", Text), key("campaign", Text), key("interaction", Text),
			sum("credit", Number), money("revenue", "revenue_micros"), key("currency", Text),
			key("conversion_type", Text), col("conversion_time", Text, "toString(toDateTime(intDiv(conversion_ts_ms, 1000), 'UTC'))"),
			key("path_length", Count), key("version", Count), key("fit_id", Text),
		},
		HasModel: true, HasChannel: true, ByID: true,
		Default: func(res *Result, _ Filter) error {
			return res.pick("model", "position", "touchpoint_time", "channel", "campaign", "interaction", "credit", "revenue")
		},
		// A row per model and position: the sums add up one row each.
		groupBy: []string{"model", "position", "touchpoint_id", "touchpoint_ts_ms", "channel", "source", "medium", "campaign", "interaction",
			"currency", "conversion_type", "conversion_ts_ms", "path_length", "version", "fit_id"},
		orderBy: []string{"model", "position"},
	},
	{
		Name:    "cohort_value",
		Summary: "users by month and channel of first touch, and their cumulative revenue per user month by month",
		Columns: []Column{
			key("cohort_month", Date), key("channel", Text), key("month_offset", Count),
			col("users", Count, "any(users)"),
			money("revenue", "revenue_micros"), money("cumulative_revenue", "cumulative_revenue_micros"),
			col("cumulative_revenue_per_user", Money, "sum(cumulative_revenue_micros) / 1000000 / any(users)"),
		},
		HasChannel: true, Monthly: true,
		groupBy: []string{"cohort_month", "channel", "month_offset"},
		orderBy: []string{"cohort_month", "channel", "month_offset"},
	},
}

// modelComparisonColumns are the channel, then conversions and revenue per
// model, then each model's difference from last click.
func modelComparisonColumns() []Column {
	cols := []Column{key("channel", Text)}
	for _, m := range comparedModels() {
		cols = append(cols, sum(m+"_conversions", Number), sum(m+"_revenue", Money))
	}
	for _, m := range comparedModels() {
		if m == "last_click" {
			continue
		}
		cols = append(cols, sum(m+"_conversions_diff", Number), sum(m+"_revenue_diff", Money))
	}
	return cols
}

// comparedModels are the models of model_comparison: the rule-based ones,
// then the data-driven ones.
func comparedModels() []string {
	return append(slices.Clone(attribution.ModelNames), attribution.DataDrivenModelNames...)
}

// modelComparisonDefault is the narrow model_comparison: the channel, then
// one column per model present in the range, named for it, of the
// conversions it credits. A model is present when it credits anything:
// every model that ran credits each conversion in full, so a model the
// attributor did not run (or a data-driven one before its first fit) sums
// to 0. When no model credits anything, the rule-based models are shown.
func modelComparisonDefault(res *Result, _ Filter) error {
	var present, ruled []string
	for j, c := range res.Columns {
		m, ok := strings.CutSuffix(c.Name, "_conversions")
		if !ok || !slices.Contains(comparedModels(), m) {
			continue
		}
		if slices.Contains(attribution.ModelNames, m) {
			ruled = append(ruled, c.Name)
		}
		for _, row := range res.Rows {
			if row[j].F != 0 {
				present = append(present, c.Name)
				break
			}
		}
	}
	if len(present) == 0 {
		present = ruled
	}
	names := append([]string{"channel"}, present...)
	if err := res.Select(names); err != nil {
		return err
	}
	for i := 1; i < len(res.Columns); i++ {
		res.Columns[i].Name = strings.TrimSuffix(res.Columns[i].Name, "_conversions")
	}
	return nil
}

// pick keeps the named columns that res has, in that order.
func (res *Result) pick(names ...string) error {
	var keep []string
	for _, n := range names {
		if column(res.Columns, n) >= 0 {
			keep = append(keep, n)
		}
	}
	return res.Select(keep)
}
