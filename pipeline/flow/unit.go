package flow

import (
	"sync"

	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/schemas"
)

// Ack marks one fetched message durable once its unit is written.
// To is the offset tracker of the message's partition (a
// *checkpoint.Tracker); a zero Ack acknowledges nothing.
type Ack struct {
	To     Acker
	Offset int64
}

// Acker is told which offsets are durable.
type Acker interface {
	Done(offset int64)
}

// Done acknowledges the message: every row derived from it is durable.
func (a Ack) Done() {
	if a.To != nil {
		a.To.Done(a.Offset)
	}
}

// Dead-letter reasons, in the "attributor.reason" header.
const (
	ReasonInvalid  = "invalid"
	ReasonOversize = "oversize"
	ReasonTooLate  = "too_late"
	ReasonFuture   = "future"  // stamped beyond MaxFutureSkew after its consumption
	ReasonRefused  = "refused" // a row ClickHouse refused (its value, not the table); Table names where
)

// DeadLetter is an unusable message bound for the dead-letter topic with
// the reason and the place it came from.
type DeadLetter struct {
	Msg    kafka.Message
	Reason string
	Err    string
	// Table is set for a row ClickHouse refused: the table it was bound
	// for. Msg then holds the row (key: its id; value: the row as JSON),
	// not a consumed message.
	Table string
}

// Unit is everything derived from some messages: rows for the tables, dead
// letters, and the acknowledgements to fire once all are durable. A
// message's derived output always travels in exactly one unit.
type Unit struct {
	TPs     []TPRow
	Convs   []ConvRow
	Credits Credits
	Spend   []schemas.AdSpend
	IDs     []IdentityRow
	Links   []LinkRow
	Dead    []DeadLetter
	Acks    []Ack
	// attributed and reattributed count the conversions credited (for the
	// first time, again) in credits: they reach the counters only once the
	// Unit is durable, so that "credited" never claims rows ClickHouse has
	// not acknowledged.
	Attributed, Reattributed int64
	ReattributedLink         int64 // of Reattributed: caused by a link
}

// Credits are credited rows in the shape the shards make them: a
// conversion's fields once per credited set, its path's touchpoints once,
// and a small pointer-free cell per row. the sink spreads them into
// the table's columns. Rows held this way cost a tenth of the memory of
// flat rows (which repeat eleven strings each) and give the garbage
// collector nothing to scan per row.
type Credits struct {
	Models []string // the run's models; CreditCell.Model indexes them
	Sets   []CreditSet
	Path   []attribution.Touchpoint
	Cells  []CreditCell
}

// CreditSet is one conversion's credited rows under one version.
type CreditSet struct {
	ConversionID, ConversionType, UserKey, Currency string
	TimeMs                                          int64
	Version                                         uint32
	Path, PathLen                                   uint32 // its touchpoints: Credits.Path[Path : Path+PathLen]
	Cells, CellsLen                                 uint32 // its rows: Credits.Cells[Cells : Cells+CellsLen]
	// FitIDs holds, per model, the fit the set was credited with ("" for a
	// rule-based model); nil when no model has one. Sets of one shard
	// share the slice until its fits change.
	FitIDs []string
	// Retract marks a retraction: no cells, no path, stored under the day
	// of TimeMs (the start of a day the conversion left: a copy stamped
	// on an earlier day became the conversion) with version RetractVersion,
	// so that the rows it was credited with under that day stop showing.
	Retract bool
}

// RetractVersion is the version of every retraction: above any the
// conversion had under the day it left, to which it never returns (a
// conversion's time only moves earlier).
const RetractVersion = ^uint32(0)

// CreditCell is one credited row of a set.
type CreditCell struct {
	Fraction float64
	Revenue  int64
	Position uint32 // 1-based in the set's path; 0 is the unattributed row
	Model    uint16 // index into the run's models
}

func (c *Credits) Rows() int { return len(c.Cells) }

func (c *Credits) Reset() {
	clear(c.Sets)
	clear(c.Path)
	c.Sets, c.Path, c.Cells = c.Sets[:0], c.Path[:0], c.Cells[:0]
}

// UnitPool recycles units once their rows are written, so that shards do
// not grow fresh slices per unit.
var UnitPool = sync.Pool{New: func() any { return &Unit{} }}

func GetUnit() *Unit { return UnitPool.Get().(*Unit) }

func PutUnit(u *Unit) {
	u.Reset()
	UnitPool.Put(u)
}

// Reset empties u, keeping its capacity.
func (u *Unit) Reset() {
	clear(u.TPs)
	clear(u.Convs)
	u.Credits.Reset()
	clear(u.Spend)
	clear(u.IDs)
	clear(u.Links)
	clear(u.Dead)
	clear(u.Acks)
	u.TPs, u.Convs, u.Spend, u.Dead, u.Acks = u.TPs[:0], u.Convs[:0], u.Spend[:0], u.Dead[:0], u.Acks[:0]
	u.IDs, u.Links = u.IDs[:0], u.Links[:0]
	u.Attributed, u.Reattributed, u.ReattributedLink = 0, 0, 0
}

func (u *Unit) Rows() int {
	return len(u.TPs) + len(u.Convs) + u.Credits.Rows() + len(u.Spend) + len(u.IDs) + len(u.Links) + len(u.Dead)
}
func (u *Unit) Empty() bool {
	return u.Rows() == 0 && len(u.Acks) == 0
}
