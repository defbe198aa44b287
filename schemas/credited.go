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
