package schemas

import (
	"strconv"
	"time"
)

// CreditedRow is one credited conversion row: the share of one conversion
// that one model gives one touchpoint. It is what `attributor replay` prints
// and what the ClickHouse view credited_conversions shows, column for column.
type CreditedRow struct {
	ConversionID     string  `json:"conversion_id"`
	ConversionType   string  `json:"conversion_type"`
	UserKey          string  `json:"user_key"`
	Model            string  `json:"model"`
	TouchpointID     string  `json:"touchpoint_id"`
	Channel          string  `json:"channel"`
	Source           string  `json:"source"`
	Medium           string  `json:"medium"`
	Campaign         string  `json:"campaign"`
	Interaction      string  `json:"interaction"`
	Credit           float64 `json:"credit"`
	RevenueMicros    int64   `json:"-"`
	Currency         string  `json:"currency"`
	TouchpointTimeMs int64   `json:"-"`
	ConversionTimeMs int64   `json:"-"`
	Position         int     `json:"position"`
	PathLength       int     `json:"path_length"`
	// FitID names the fit (model_fits.fit_id) a data-driven model
	// credited the row with; empty for the rule-based models.
	FitID string `json:"fit_id"`
}

// CreditedColumn is one column of a credited row in the two places rows
// are read: Output is its name in what `attributor replay` prints (the
// NDJSON key and the CSV header), Stored its column in the ClickHouse view
// credited_conversions, which unfolds the compact rows of the table
// attributed_conversions into credited rows.
type CreditedColumn struct{ Output, Stored string }

// CreditedColumns are the columns of a CreditedRow, in its field order,
// which is replay's output order. It is the one list of them: replay's row
// writer is derived from it.
var CreditedColumns = [...]CreditedColumn{
	{"conversion_id", "conversion_id"},
	{"conversion_type", "conversion_type"},
	{"user_key", "user_key"},
	{"model", "model"},
	{"touchpoint_id", "touchpoint_id"},
	{"channel", "channel"},
	{"source", "source"},
	{"medium", "medium"},
	{"campaign", "campaign"},
	{"interaction", "interaction"},
	{"credit", "credit"},
	{"revenue", "revenue_micros"},
	{"currency", "currency"},
	{"touchpoint_timestamp", "touchpoint_ts_ms"},
	{"conversion_timestamp", "conversion_ts_ms"},
	{"position", "position"},
	{"path_length", "path_length"},
	{"fit_id", "fit_id"},
}

// FormatMicros prints millionths as an exact decimal with six places.
func FormatMicros(m int64) string {
	neg := m < 0
	if neg {
		m = -m
	}
	s := strconv.FormatInt(m/1e6, 10) + "." + pad6(m%1e6)
	if neg {
		s = "-" + s
	}
	return s
}

func pad6(v int64) string {
	s := strconv.FormatInt(v, 10)
	for len(s) < 6 {
		s = "0" + s
	}
	return s
}

// FormatTimeMs prints epoch milliseconds as RFC 3339 UTC with milliseconds;
// 0 prints as the empty string (the unattributed row has no touchpoint).
func FormatTimeMs(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
