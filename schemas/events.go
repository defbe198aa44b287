// Package schemas holds the event contract (Go types, decoding, validation
// and JSON Schema) and the ClickHouse DDL of the attribution pipeline.
package schemas

// Interactions a touchpoint can record.
const (
	InteractionClick      = "click"
	InteractionImpression = "impression"
)

// DefaultConversionType is the conversion_type of a conversion that names none.
const DefaultConversionType = "conversion"

// Touchpoint is a marketing interaction of a user: a click on an ad, an
// impression, a visit from an email. TimeMs is the event time in epoch
// milliseconds.
type Touchpoint struct {
	EventID     string  `json:"event_id"`
	UserID      string  `json:"user_id,omitempty"`
	AnonymousID string  `json:"anonymous_id,omitempty"`
	TimeMs      int64   `json:"-"`
	Interaction string  `json:"interaction"`
	Channel     string  `json:"channel"`
	Source      string  `json:"source,omitempty"`
	Medium      string  `json:"medium,omitempty"`
	Campaign    string  `json:"campaign,omitempty"`
	Cost        float64 `json:"cost,omitempty"`
}

// Key is the attribution key: user_id when present, else anonymous_id.
func (t *Touchpoint) Key() string { return attributionKey(t.UserID, t.AnonymousID) }

// Conversion is a valuable action of a user (a purchase, a sign-up).
// RevenueMicros is the revenue in millionths of the currency unit, so that
// credited revenue can be split and summed exactly.
type Conversion struct {
	EventID        string `json:"event_id"`
	UserID         string `json:"user_id,omitempty"`
	AnonymousID    string `json:"anonymous_id,omitempty"`
	TimeMs         int64  `json:"-"`
	ConversionType string `json:"conversion_type"`
	RevenueMicros  int64  `json:"-"`
	Currency       string `json:"currency,omitempty"`
}

// Key is the attribution key: user_id when present, else anonymous_id.
func (c *Conversion) Key() string { return attributionKey(c.UserID, c.AnonymousID) }

func attributionKey(user, anon string) string {
	if user != "" {
		return user
	}
	return anon
}

// Link is one observation that the device or cookie AnonymousID belongs to
// UserID, made at (TimeMs, EventID): by an identity event, or by a
// touchpoint or conversion that carries both ids.
type Link struct {
	AnonymousID, UserID, EventID string
	TimeMs                       int64
}

// LinkOf returns the link an event with these ids makes, and false when it
// lacks one of the two ids.
func LinkOf(eventID, userID, anonymousID string, timeMs int64) (Link, bool) {
	if userID == "" || anonymousID == "" {
		return Link{}, false
	}
	return Link{AnonymousID: anonymousID, UserID: userID, EventID: eventID, TimeMs: timeMs}, true
}

// Link returns the link the identity event makes.
func (i *Identity) Link() Link {
	return Link{AnonymousID: i.AnonymousID, UserID: i.UserID, EventID: i.EventID, TimeMs: i.TimeMs}
}

// Link returns the link the touchpoint makes, if it carries both ids.
func (t *Touchpoint) Link() (Link, bool) { return LinkOf(t.EventID, t.UserID, t.AnonymousID, t.TimeMs) }

// Link returns the link the conversion makes, if it carries both ids.
func (c *Conversion) Link() (Link, bool) { return LinkOf(c.EventID, c.UserID, c.AnonymousID, c.TimeMs) }
