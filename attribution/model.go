// Package attribution turns a user's touchpoint path and a conversion into
// credits. It is pure and deterministic: no I/O, no clocks, no goroutines.
// The streaming pipeline and the replay command call the same code, which is
// why their results agree row for row.
package attribution

// Touchpoint is one interaction in a path, as the models see it.
type Touchpoint struct {
	ID         string
	TimeMs     int64 // event time, epoch milliseconds
	Impression bool  // a view, not a click: counts only inside the view-through window
	Channel    string
	Source     string
	Medium     string
	Campaign   string
}

// Conversion is the event being attributed.
type Conversion struct {
	ID            string
	TimeMs        int64
	RevenueMicros int64 // revenue in millionths of the currency unit, >= 0
}

// Model splits the credit of a conversion over its path.
//
// Weights is called with a non-empty path sorted by (TimeMs, ID), already cut
// to the conversion's lookback and view-through windows, and a w of the same
// length. It writes into w the share of each touchpoint: every share is >= 0
// and they sum to 1. It must not retain path or w, and must not allocate:
// it is called once per conversion per model on the hot path.
type Model interface {
	Name() string
	Weights(conv Conversion, path []Touchpoint, w []float64)
}

// ModelFunc adapts a function to a Model.
type ModelFunc struct {
	ModelName string
	Func      func(conv Conversion, path []Touchpoint, w []float64)
}

// Name returns the model's name.
func (f ModelFunc) Name() string { return f.ModelName }

// Weights calls f.Func.
func (f ModelFunc) Weights(conv Conversion, path []Touchpoint, w []float64) { f.Func(conv, path, w) }

var _ Model = ModelFunc{}

func clear64(w []float64) {
	for i := range w {
		w[i] = 0
	}
}
