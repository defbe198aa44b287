package attribution

import (
	"math"
	"slices"
	"sort"
)

// NoReset is the "after" bound of Engine.Attribute when paths are not reset
// by earlier conversions.
const NoReset = math.MinInt64

// Credit is the share of one conversion that one model gives one touchpoint.
type Credit struct {
	Model         int     // index into Engine.Models
	Position      int     // 1-based position in Result.Path; 0 marks the unattributed row
	Fraction      float64 // share of the conversion, in [0, 1]; a model's fractions sum to 1
	RevenueMicros int64   // share of the revenue; a model's shares sum exactly to the revenue
}

// Result is the attribution of one conversion. Its slices are reused by the
// next call of Engine.Attribute with the same Result.
type Result struct {
	Path    []Touchpoint // the conversion's path: windowed, ordered by (TimeMs, ID)
	Credits []Credit     // per model (in Engine.Models order), one per touchpoint of Path, or one unattributed row
}

// Engine applies a set of models to conversions. It keeps scratch buffers,
// so it is not safe for concurrent use: give each goroutine its own.
type Engine struct {
	cfg        Config
	models     []Model
	lookbackMs int64
	viewMs     int64

	w      []float64
	micros []int64
	order  []int
}

// NewEngine validates cfg (after applying defaults) and builds its models.
func NewEngine(cfg Config) (*Engine, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, lookbackMs: cfg.Lookback.Milliseconds(), viewMs: cfg.ViewWindow.Milliseconds()}
	if e.viewMs > e.lookbackMs {
		e.viewMs = e.lookbackMs
	}
	for _, name := range cfg.Models {
		m, _ := newModel(name, cfg)
		e.models = append(e.models, m)
	}
	return e, nil
}

// Config returns the engine's configuration, defaults applied.
func (e *Engine) Config() Config { return e.cfg }

// Models returns the engine's models; Credit.Model indexes this slice.
func (e *Engine) Models() []Model { return e.models }

// LookbackMs returns the click lookback window in milliseconds: touchpoints
// older than a conversion by more than this never reach its path.
func (e *Engine) LookbackMs() int64 { return e.lookbackMs }

// Window reports whether tp belongs to the path of a conversion at convMs:
// a click within the lookback window, an impression within the view-through
// window, never after the conversion.
func (e *Engine) Window(tp *Touchpoint, convMs int64) bool {
	if tp.TimeMs > convMs {
		return false
	}
	if tp.Impression {
		return tp.TimeMs >= convMs-e.viewMs
	}
	return tp.TimeMs >= convMs-e.lookbackMs
}

// Attribute credits conv to its path, drawn from touchpoints, which must be
// the user's deduplicated touchpoints sorted by (TimeMs, ID) (a Journey keeps
// them so). Touchpoints at or before after are left out (see
// Config.ResetOnConversion; pass NoReset otherwise). The result replaces the
// contents of r.
func (e *Engine) Attribute(conv Conversion, touchpoints []Touchpoint, after int64, r *Result) {
	lo := conv.TimeMs - e.lookbackMs
	if after != NoReset && after+1 > lo {
		lo = after + 1
	}
	start := sort.Search(len(touchpoints), func(i int) bool { return touchpoints[i].TimeMs >= lo })
	r.Path = r.Path[:0]
	for i := start; i < len(touchpoints) && touchpoints[i].TimeMs <= conv.TimeMs; i++ {
		if e.Window(&touchpoints[i], conv.TimeMs) {
			r.Path = append(r.Path, touchpoints[i])
		}
	}
	r.Credits = r.Credits[:0]
	n := len(r.Path)
	if n == 0 {
		for m := range e.models {
			r.Credits = append(r.Credits, Credit{Model: m, Fraction: 1, RevenueMicros: conv.RevenueMicros})
		}
		return
	}
	e.w = grow(e.w, n)
	e.micros = growInt(e.micros, n)
	for m, model := range e.models {
		model.Weights(conv, r.Path, e.w)
		e.allocate(conv.RevenueMicros)
		for i := 0; i < n; i++ {
			r.Credits = append(r.Credits, Credit{Model: m, Position: i + 1, Fraction: e.w[i], RevenueMicros: e.micros[i]})
		}
	}
}

// allocate splits total over e.w into e.micros by largest remainder: each
// share is the floor of its exact value, and the units left over go to the
// largest fractional parts (ties to the earlier touchpoint), so the shares
// sum exactly to total.
func (e *Engine) allocate(total int64) {
	w, out := e.w, e.micros
	var sum int64
	for i, f := range w {
		exact := f * float64(total)
		fl := math.Floor(exact)
		out[i] = int64(fl)
		sum += out[i]
	}
	diff := total - sum
	if diff == 0 {
		return
	}
	e.order = growInt2(e.order, len(w))
	for i := range e.order {
		e.order[i] = i
	}
	rem := func(i int) float64 {
		exact := w[i] * float64(total)
		return exact - math.Floor(exact)
	}
	slices.SortStableFunc(e.order, func(a, b int) int {
		ra, rb := rem(a), rem(b)
		switch {
		case ra > rb:
			return -1
		case ra < rb:
			return 1
		}
		return 0
	})
	// diff is in [0, n) in exact arithmetic; rounding of huge totals can push
	// it slightly outside, so walk the order as many times as needed.
	for diff > 0 {
		for _, i := range e.order {
			if diff == 0 {
				break
			}
			out[i]++
			diff--
		}
	}
	for diff < 0 {
		for k := len(e.order) - 1; k >= 0 && diff < 0; k-- {
			if i := e.order[k]; out[i] > 0 {
				out[i]--
				diff++
			}
		}
	}
}

func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n, 2*n)
	}
	return s[:n]
}

func growInt(s []int64, n int) []int64 {
	if cap(s) < n {
		return make([]int64, n, 2*n)
	}
	return s[:n]
}

func growInt2(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, n, 2*n)
	}
	return s[:n]
}
