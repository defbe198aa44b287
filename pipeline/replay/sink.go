package replay

import "github.com/attributor/attributor/schemas"

// RowSink receives the credited rows of a replay, in output order. The row
// belongs to the caller and is valid only during the call: a sink that keeps
// it must copy it. An error stops the replay.
type RowSink interface {
	WriteRow(row *schemas.CreditedRow) error
}

// RowSinkFunc adapts a function to a RowSink.
type RowSinkFunc func(row *schemas.CreditedRow) error

// WriteRow calls f(row).
func (f RowSinkFunc) WriteRow(row *schemas.CreditedRow) error { return f(row) }

var (
	_ RowSink = RowSinkFunc(nil)
	_ RowSink = (*RowWriter)(nil)
)
