package schemas

// Identity is an identity event: the device or cookie AnonymousID belongs
// to the user UserID from TimeMs on (a login, a sign-up, a checkout with an
// account). It is a link anonymous_id → user_id; a touchpoint or conversion
// that carries both ids is one too (see LinkOf). All four fields are
// required. Identity events are deduplicated by EventID, like the others.
type Identity struct {
	EventID     string `json:"event_id"`
	AnonymousID string `json:"anonymous_id"`
	UserID      string `json:"user_id"`
	TimeMs      int64  `json:"-"`
}

// Identity decodes and validates one identity event:
//
//	{"event_id":"id-1","anonymous_id":"anon-7","user_id":"u1","timestamp":"2026-11-27T09:20:00Z"}
//
// A returned error is a *FieldError naming the field at fault. Each id has
// its own allocation.
func (d *Decoder) Identity(b []byte) (Identity, error) {
	var e event
	if err := e.scan(b, identitySchema); err != nil {
		return Identity{}, endOfInput(err, b)
	}
	// The links need both ids: say which one is missing before the
	// checks every event shares (which accept either).
	if e.empty(idEventID) {
		return Identity{}, fieldErr("event_id", "required")
	}
	if e.empty(idUserID) {
		return Identity{}, fieldErr("user_id", "required: an identity event links anonymous_id to user_id")
	}
	if e.empty(idAnonymousID) {
		return Identity{}, fieldErr("anonymous_id", "required: an identity event links anonymous_id to user_id")
	}
	v, err := identity(&e)
	if err != nil {
		return Identity{}, err
	}
	var id Identity
	id.EventID, id.UserID, id.AnonymousID, id.TimeMs = v.values()
	return id, nil
}

// empty reports whether string field f is absent, null or "" (an escaped
// string is never empty).
func (e *event) empty(f int) bool {
	s := &e.slots[f]
	return s.end-s.start <= 2
}

// Indexes of the fields of an identity event, in identitySchema: those of
// every event, at the indexes identity reads them from.
const (
	idEventID     = tpEventID
	idUserID      = tpUserID
	idAnonymousID = tpAnonymousID
	idTimestamp   = tpTimestamp
	idFieldCount  = tpTimestamp + 1
)

var identitySchema = newSchema(
	[]string{idEventID: "event_id", idUserID: "user_id", idAnonymousID: "anonymous_id", idTimestamp: "timestamp"},
	[]fieldKind{idEventID: stringField, idUserID: stringField, idAnonymousID: stringField, idTimestamp: rawField},
)

const _ = uint(maxFields - idFieldCount)
