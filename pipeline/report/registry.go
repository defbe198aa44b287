package report

import "github.com/attributor/attributor/attribution"

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

var registry = []*Report{
	{
		Name:    "channel_performance",
		Summary: "per model, channel and campaign: reach, clicks, CTR, conversions, revenue, spend, CPA, ROAS",
		Columns: []Column{
			key("model", Text), key("channel", Text), key("campaign", Text),
			sum("impressions", Count), sum("clicks", Count), ratio("ctr", "clicks", "impressions"),
			sum("users_reached", Count), sum("converting_users", Count), ratio("conversion_rate", "converting_users", "users_reached"),
			sum("conversions", Number), money("revenue", "revenue_micros"), money("spend", "spend_micros"),
			col("spend_source", Text, "if(min(spend_source) = max(spend_source), min(spend_source), 'mixed')"),
			col("cpa", Money, "if(sum(conversions) > 0, sum(spend_micros) / 1000000 / sum(conversions), NULL)"),
			ratio("roas", "revenue_micros", "spend_micros"),
		},
		HasModel: true, HasChannel: true,
		groupBy: "model, channel, campaign",
		orderBy: []string{"model", "-revenue", "-spend", "channel", "campaign"},
	},
	{
		Name:       "model_comparison",
		Summary:    "per channel: conversions and revenue under every model side by side, and each model minus last click",
		Columns:    modelComparisonColumns(),
		HasChannel: true,
		groupBy:    "channel",
		orderBy:    []string{"-last_click_revenue", "channel"},
	},
	{
		Name:    "assisted_conversions",
		Summary: "per channel: conversions it assisted (in the path) and closed (last touch), and their ratio",
		Columns: []Column{
			key("channel", Text),
			sum("assisted_conversions", Count), sum("closed_conversions", Count),
			ratio("assist_ratio", "assisted_conversions", "closed_conversions"),
			sum("assisted_revenue", Money), sum("closed_revenue", Money),
		},
		HasChannel: true,
		groupBy:    "channel",
		orderBy:    []string{"-closed_conversions", "-assisted_conversions", "channel"},
	},
	{
		Name:    "time_to_conversion",
		Summary: "conversions by full days from first touch to conversion, overall ('all') and per first-touch channel",
		Columns: []Column{
			key("channel", Text), key("days_to_conversion", Count),
			sum("conversions", Count), money("revenue", "revenue_micros"),
		},
		HasChannel: true,
		groupBy:    "channel, days_to_conversion",
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
		groupBy:    "channel, touches",
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
		groupBy:      "path, touches",
		orderBy:      []string{"-conversions", "-revenue", "path"},
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
		groupBy: "cohort_month, channel, month_offset",
		orderBy: []string{"cohort_month", "channel", "month_offset"},
	},
}

// modelComparisonColumns are the channel, then conversions and revenue per
// model, then each model's difference from last click.
func modelComparisonColumns() []Column {
	cols := []Column{key("channel", Text)}
	for _, m := range attribution.ModelNames {
		cols = append(cols, sum(m+"_conversions", Number), sum(m+"_revenue", Money))
	}
	for _, m := range attribution.ModelNames {
		if m == "last_click" {
			continue
		}
		cols = append(cols, sum(m+"_conversions_diff", Number), sum(m+"_revenue_diff", Money))
	}
	return cols
}
