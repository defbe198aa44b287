// Package stitch joins the events of a device to its user (identity
// stitching): a pure table of links anonymous_id → user_id, and the
// stitched key that replaces an event's attribution key. It does no I/O;
// replay fills one table per run, the stream one per partition.
//
// Rules:
//
//   - A link comes from an identity event, or from a touchpoint or
//     conversion that carries both ids (schemas.Link).
//   - Earliest link wins: per anonymous_id, the link with the smallest
//     (timestamp, event_id) over all its sources decides its user (ties
//     of both, which only a broken producer makes, go to the smaller
//     user_id, so that the order stays total).
//   - A link of the same anonymous_id to another user_id (a shared device)
//     is a conflict: stored, counted, never applied. A conflict is a
//     distinct (anonymous_id, user_id) pair, so that a re-sent link does
//     not count twice.
//   - Arrival order never matters: an earlier link that arrives after a
//     later one takes over, and Add reports the move so that the caller
//     can re-attribute the conversions of both keys.
//   - The stitched key of an event is its user_id if non-empty, else the
//     linked user of its anonymous_id, else its anonymous_id.
//   - No chains through users: a user_id is never aliased to another
//     user_id, and an anonymous_id is linked to a user, never to another
//     anonymous_id. A user_id that some event also uses as an
//     anonymous_id is not followed further.
//
// Use in a stream: per partition owner, one Table; for each identity event
// (deduplicated by event_id) and each touchpoint or conversion whose Link
// is ok, call Add before keying the event with Key. When the Change
// Moved(), the anonymous events of AnonymousID now belong to To instead of
// From: move them between the two keys' journeys and re-attribute the
// conversions of both keys whose paths change. Outcome Conflict and
// NewConflict feed the conflict metric. Links never expire (dropping one
// would change keys): Links() is the snapshot to persist or rebuild from,
// about 145 bytes a link with uuid event ids.
//
// A Table is not safe for concurrent use.
package stitch

import (
	"iter"
	"slices"
	"strings"

	"github.com/attributor/attributor/schemas"
)

// Table holds, per anonymous_id, its earliest link and the other users it
// was linked to. The zero value is not usable: create one with NewTable. A
// nil *Table stitches nothing: Key returns the event's own key.
type Table struct {
	links     map[string]entry    // anonymous_id → its earliest link
	conflicts map[string][]string // anonymous_id → the other users it links to (rare)
	nConflict int
}

// entry is the earliest link of an anonymous_id: its user and event id in
// one string (one allocation), and its time. 32 bytes.
type entry struct {
	timeMs  int64
	ids     string // user_id + event_id
	userLen uint16 // len(user_id) <= schemas.MaxIDLength
}

func (e *entry) user() string    { return e.ids[:e.userLen] }
func (e *entry) eventID() string { return e.ids[e.userLen:] }

// The user id length must fit entry.userLen.
const _ = uint16(schemas.MaxIDLength)

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{links: make(map[string]entry), conflicts: make(map[string][]string)}
}

// Outcome is what adding a link did.
type Outcome uint8

// Outcomes of Add.
const (
	// Ignored: the link lacks an id, or is a copy of the earliest link
	// or later than it with the same user. Nothing changed.
	Ignored Outcome = iota
	// Linked: the first link of the anonymous_id. Its events move from
	// the key anonymous_id to the key user_id.
	Linked
	// Relinked: a link earlier than the one that decided, to another
	// user, took over. The anonymous_id's events move from the old user
	// to the new one, and the old user becomes a conflict.
	Relinked
	// Earlier: a link earlier than the one that decided, to the same
	// user. No key changes.
	Earlier
	// Conflict: a link later than the one that decided, to another user:
	// stored and counted, never applied. No key changes.
	Conflict
)

var outcomeNames = [...]string{"ignored", "linked", "relinked", "earlier", "conflict"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "Outcome(?)"
}

// Change reports what Add did. When From != To, the events of
// AnonymousID that carry no user_id changed key from From to To: every
// conversion of either key whose path holds them (or now would) must be
// re-attributed.
type Change struct {
	Outcome     Outcome
	AnonymousID string
	From, To    string // the stitched key of AnonymousID's anonymous events before and after
	NewConflict bool   // a (anonymous_id, user_id) pair became a conflict: Conflicts grew by one
}

// Moved reports whether keys changed.
func (c Change) Moved() bool { return c.From != c.To }

// Add records a link and reports what changed.
func (t *Table) Add(l schemas.Link) Change {
	if l.AnonymousID == "" || l.UserID == "" || len(l.UserID) > schemas.MaxIDLength {
		return Change{}
	}
	e, ok := t.links[l.AnonymousID]
	if !ok {
		t.links[strings.Clone(l.AnonymousID)] = newEntry(l)
		return Change{Outcome: Linked, AnonymousID: l.AnonymousID, From: l.AnonymousID, To: l.UserID}
	}
	old := e.user()
	if !before(l, &e) {
		if l.UserID == old {
			return Change{Outcome: Ignored, AnonymousID: l.AnonymousID, From: old, To: old}
		}
		return Change{Outcome: Conflict, AnonymousID: l.AnonymousID, From: old, To: old, NewConflict: t.addConflict(l.AnonymousID, l.UserID)}
	}
	t.links[l.AnonymousID] = newEntry(l)
	if l.UserID == old {
		return Change{Outcome: Earlier, AnonymousID: l.AnonymousID, From: old, To: old}
	}
	// The old user becomes a conflict; the new one, if it was one, is
	// not any more.
	t.removeConflict(l.AnonymousID, l.UserID)
	grew := t.addConflict(l.AnonymousID, old)
	return Change{Outcome: Relinked, AnonymousID: l.AnonymousID, From: old, To: l.UserID, NewConflict: grew}
}

func newEntry(l schemas.Link) entry {
	return entry{timeMs: l.TimeMs, ids: l.UserID + l.EventID, userLen: uint16(len(l.UserID))}
}

// before reports whether l precedes e in (timestamp, event_id, user_id).
func before(l schemas.Link, e *entry) bool {
	if l.TimeMs != e.timeMs {
		return l.TimeMs < e.timeMs
	}
	if id := e.eventID(); l.EventID != id {
		return l.EventID < id
	}
	return l.UserID < e.user()
}

// addConflict adds user to the conflicts of anon and reports whether it
// was new.
func (t *Table) addConflict(anon, user string) bool {
	us := t.conflicts[anon]
	i, found := slices.BinarySearch(us, user)
	if found {
		return false
	}
	if us == nil {
		anon = strings.Clone(anon)
	}
	t.conflicts[anon] = slices.Insert(us, i, strings.Clone(user))
	t.nConflict++
	return true
}

func (t *Table) removeConflict(anon, user string) {
	us := t.conflicts[anon]
	i, found := slices.BinarySearch(us, user)
	if !found {
		return
	}
	t.nConflict--
	if len(us) == 1 {
		delete(t.conflicts, anon)
		return
	}
	t.conflicts[anon] = slices.Delete(us, i, i+1)
}

// Key returns the stitched key of an event with these ids: userID if
// non-empty, else the linked user of anonymousID, else anonymousID. On a
// nil table it is the event's own key (user_id, else anonymous_id).
func (t *Table) Key(userID, anonymousID string) string {
	if userID != "" {
		return userID
	}
	if t != nil {
		if e, ok := t.links[anonymousID]; ok {
			return e.user()
		}
	}
	return anonymousID
}

// User returns the user anonymousID is linked to.
func (t *Table) User(anonymousID string) (string, bool) {
	if t == nil {
		return "", false
	}
	e, ok := t.links[anonymousID]
	if !ok {
		return "", false
	}
	return e.user(), true
}

// Decider returns the link that decides anonymousID's user: its earliest.
func (t *Table) Decider(anonymousID string) (schemas.Link, bool) {
	if t == nil {
		return schemas.Link{}, false
	}
	e, ok := t.links[anonymousID]
	if !ok {
		return schemas.Link{}, false
	}
	return schemas.Link{AnonymousID: anonymousID, UserID: e.user(), EventID: e.eventID(), TimeMs: e.timeMs}, true
}

// Len returns the number of linked anonymous_ids.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.links)
}

// Conflicts returns the number of conflicts: distinct (anonymous_id,
// user_id) pairs linked but not applied.
func (t *Table) Conflicts() int {
	if t == nil {
		return 0
	}
	return t.nConflict
}

// ConflictsOf returns the users anonymousID was linked to besides its
// own, in order. The slice belongs to the table.
func (t *Table) ConflictsOf(anonymousID string) []string {
	if t == nil {
		return nil
	}
	return t.conflicts[anonymousID]
}

// Links yields the deciding link of every linked anonymous_id, in no
// particular order: a snapshot from which Add rebuilds the same keys
// (conflicts aside).
func (t *Table) Links() iter.Seq[schemas.Link] {
	return func(yield func(schemas.Link) bool) {
		if t == nil {
			return
		}
		for anon, e := range t.links {
			if !yield(schemas.Link{AnonymousID: anon, UserID: e.user(), EventID: e.eventID(), TimeMs: e.timeMs}) {
				return
			}
		}
	}
}
