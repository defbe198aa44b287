package schemas

import (
	"time"
)

// AdSpend is what a channel or campaign cost on one day, as exported by an
// ad platform. CostMicros is the cost in millionths of the currency unit.
type AdSpend struct {
	EventID    string
	Date       time.Time // UTC midnight
	Channel    string
	Source     string
	Medium     string
	Campaign   string
	CostMicros int64
	Currency   string
}

type wireSpend struct {
	EventID  *string  `json:"event_id"`
	Date     *string  `json:"date"`
	Channel  *string  `json:"channel"`
	Source   *string  `json:"source"`
	Medium   *string  `json:"medium"`
	Campaign *string  `json:"campaign"`
	Cost     *float64 `json:"cost"`
	Currency *string  `json:"currency"`
}

// AdSpend decodes and validates one ad-spend event:
//
//	{"event_id":"sp-1","date":"2026-11-01","channel":"paid_search","source":"google",
//	 "campaign":"black_friday","cost":1234.56,"currency":"USD"}
//
// event_id, date and cost are required; channel is derived from source and
// medium like a touchpoint's when absent. A returned error is a *FieldError.
func (d *Decoder) AdSpend(b []byte) (AdSpend, error) {
	var w wireSpend
	if err := unmarshal(b, &w); err != nil {
		return AdSpend{}, err
	}
	var s AdSpend
	if w.EventID == nil || *w.EventID == "" {
		return AdSpend{}, fieldErr("event_id", "required")
	}
	if err := checkText("event_id", *w.EventID, MaxIDLength); err != nil {
		return AdSpend{}, err
	}
	s.EventID = *w.EventID
	if w.Date == nil || *w.Date == "" {
		return AdSpend{}, fieldErr("date", "required")
	}
	date, err := ParseDate(*w.Date)
	if err != nil {
		return AdSpend{}, err
	}
	s.Date = date
	for _, f := range [...]struct {
		name string
		src  *string
		dst  *string
	}{{"channel", w.Channel, &s.Channel}, {"source", w.Source, &s.Source}, {"medium", w.Medium, &s.Medium}, {"campaign", w.Campaign, &s.Campaign}, {"currency", w.Currency, &s.Currency}} {
		if f.src == nil {
			continue
		}
		if err := checkText(f.name, *f.src, MaxTextLength); err != nil {
			return AdSpend{}, err
		}
		*f.dst = *f.src
	}
	if w.Cost == nil {
		return AdSpend{}, fieldErr("cost", "required")
	}
	if err := checkMoney("cost", *w.Cost); err != nil {
		return AdSpend{}, err
	}
	s.CostMicros = ToMicros(*w.Cost)
	if s.Channel == "" {
		s.Channel = d.channels.Channel(s.Source, s.Medium)
	}
	return s, nil
}

// ParseDate parses a YYYY-MM-DD day in the accepted event range.
func ParseDate(v string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, fieldErr("date", "must be YYYY-MM-DD, got %q", clip(v))
	}
	if ms := t.UnixMilli(); ms < MinTimeMs || ms >= MaxTimeMs {
		return time.Time{}, fieldErr("date", "out of range [2000-01-01, 2100-01-01): %q", v)
	}
	return t, nil
}
