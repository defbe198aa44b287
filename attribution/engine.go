package attribution

import (
	"math"
	"math/bits"
	"slices"
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
	Path    []Touchpoint // the conversion's path: windowed, capped, ordered by (TimeMs, ID)
	Credits []Credit     // per model (in Engine.Models order), one per touchpoint of Path, or one unattributed row; none for a skipped model (a data-driven one without a fit)
	// Capped says that earlier touchpoints within the windows were left
	// out of Path: more than Config.MaxPathTouchpoints were there.
	Capped bool
}

// Engine applies a set of models to conversions. It keeps scratch buffers,
// so it is not safe for concurrent use: give each goroutine its own.
type Engine struct {
	cfg        Config
	models     []Model
	lookbackMs int64
	viewMs     int64
	maxPath    int
	skip       []bool   // per model: a data-driven model without a fit
	skipped    []uint64 // per model: conversions skipped

	// Scratch buffers of Attribute, one entry per touchpoint of the path.
	w      []float64
	micros []int64
	q      []uint64
	rem    []uint64
	order  []int
}

// NewEngine validates cfg (after applying defaults) and builds its models.
func NewEngine(cfg Config) (*Engine, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, lookbackMs: cfg.Lookback.Milliseconds(), viewMs: cfg.ViewWindow.Milliseconds(), maxPath: cfg.MaxPathTouchpoints}
	if e.viewMs > e.lookbackMs {
		e.viewMs = e.lookbackMs
	}
	for _, name := range cfg.Models {
		m, _ := newModel(name, cfg)
		e.models = append(e.models, m)
		_, dataDriven := m.(fitted)
		e.skip = append(e.skip, dataDriven)
	}
	e.skipped = make([]uint64, len(e.models))
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

// MaxPath returns the most touchpoints a path keeps
// (Config.MaxPathTouchpoints).
func (e *Engine) MaxPath() int { return e.maxPath }

// Attribute credits conv to its path, drawn from touchpoints, which must be
// the user's deduplicated touchpoints sorted by (TimeMs, ID) (a Journey keeps
// them so). Touchpoints at or before after are left out (see
// Config.ResetOnConversion; pass NoReset otherwise). Of the touchpoints in
// the windows, the latest MaxPath are kept: the walk goes back from the
// conversion and stops there, so a long journey costs no more than the
// touchpoints it walks over. The result replaces the
// contents of r. After the first calls have grown r and the engine's scratch
// buffers to the longest path seen, Attribute does not allocate.
func (e *Engine) Attribute(conv Conversion, touchpoints []Touchpoint, after int64, r *Result) {
	r.Path = r.Path[:0]
	r.Credits = r.Credits[:0]
	r.Capped = false
	lo := conv.TimeMs - e.lookbackMs
	if after != NoReset && after >= lo {
		if after >= conv.TimeMs {
			lo = conv.TimeMs + 1 // nothing is left after the bound
		} else {
			lo = after + 1
		}
	}
	first := searchTime(touchpoints, lo)
	for i := searchTime(touchpoints, conv.TimeMs+1) - 1; i >= first; i-- {
		if e.Window(&touchpoints[i], conv.TimeMs) {
			if len(r.Path) == e.maxPath {
				r.Capped = true
				break
			}
			r.Path = append(r.Path, touchpoints[i])
		}
	}
	slices.Reverse(r.Path)
	n := len(r.Path)
	if n == 0 {
		for m := range e.models {
			if e.skip[m] {
				e.skipped[m]++
				continue
			}
			r.Credits = append(r.Credits, Credit{Model: m, Fraction: 1, RevenueMicros: conv.RevenueMicros})
		}
		return
	}
	e.w = grow(e.w, n)
	e.micros = grow(e.micros, n)
	e.q = grow(e.q, n)
	e.rem = grow(e.rem, n)
	for m, model := range e.models {
		if e.skip[m] {
			e.skipped[m]++
			continue
		}
		model.Weights(conv, r.Path, e.w)
		e.allocate(conv.RevenueMicros)
		for i := 0; i < n; i++ {
			r.Credits = append(r.Credits, Credit{Model: m, Position: i + 1, Fraction: e.w[i], RevenueMicros: e.micros[i]})
		}
	}
}

// searchTime returns the index of the first touchpoint at or after ms
// (len(tps) if none). It is sort.Search written out, so that the hot path
// staying free of allocations does not hang on the compiler inlining a
// closure.
func searchTime(tps []Touchpoint, ms int64) int {
	i, j := 0, len(tps)
	for i < j {
		h := int(uint(i+j) >> 1)
		if tps[h].TimeMs < ms {
			i = h + 1
		} else {
			j = h
		}
	}
	return i
}

// allocScale is the fixed point in which allocate quantises the weights:
// 2^62 leaves room in a uint64 for the sum of the rounded weights.
const allocScale = 1 << 62

// allocate splits total over the weights e.w into e.micros by largest
// remainder. The weights are normalised by their sum and quantised to
// integers q (of sum Q); the exact share of touchpoint i is then total*q/Q,
// computed in 128-bit integer arithmetic, so that no revenue is lost to
// float64 rounding even for totals beyond 2^53 micros. Each touchpoint gets
// the floor of its exact share; the units left over, fewer than the number of
// touchpoints with a non-zero remainder, go one each to the largest
// remainders, ties to the earlier touchpoint. The shares sum exactly to total,
// have the sign of total, and a touchpoint of weight 0 gets nothing.
//
// Weights that are negative or NaN count as 0; if no weight is usable the
// total is split evenly.
func (e *Engine) allocate(total int64) {
	w, out, q, rem := e.w, e.micros, e.q, e.rem
	neg := total < 0
	t := uint64(total)
	if neg {
		t = -t
	}
	sum, nonzero, last := 0.0, 0, 0
	for i, f := range w {
		if f > 0 {
			sum += f
			nonzero, last = nonzero+1, i
		}
	}
	if nonzero == 1 && !math.IsInf(sum, 1) {
		// One touchpoint takes everything (the one-hot models, a path of
		// one): no arithmetic to do.
		clear(out)
		out[last] = total
		return
	}
	var qsum uint64
	if sum > 0 && !math.IsInf(sum, 1) {
		for i, f := range w {
			q[i] = 0
			if f > 0 {
				q[i] = uint64(math.Round(f / sum * allocScale))
			}
			qsum += q[i]
		}
	}
	if qsum == 0 {
		for i := range q {
			q[i] = 1
		}
		qsum = uint64(len(q))
	}
	var given uint64
	for i := range q {
		var share, r uint64
		switch q[i] {
		case 0:
		case qsum:
			share = t
		default:
			// t*q[i] < 2^64*qsum because q[i] <= qsum, so the quotient fits.
			hi, lo := bits.Mul64(t, q[i])
			share, r = bits.Div64(hi, lo, qsum)
		}
		out[i] = int64(share)
		rem[i] = r
		given += share
	}
	// sum(t*q) = t*qsum, so left*qsum = sum(rem) with every rem < qsum:
	// left is below the number of non-zero remainders.
	if left := t - given; left > 0 {
		order := e.order[:0]
		for i, r := range rem {
			if r > 0 {
				order = append(order, i)
			}
		}
		// Largest remainder first, ties to the earlier touchpoint: a strict
		// order, so the sort needs no stability. Paths are short: an
		// insertion sort beats the generic one's calls up to a few dozen.
		if len(order) <= 32 {
			for k := 1; k < len(order); k++ {
				i := order[k]
				j := k
				for ; j > 0 && (rem[order[j-1]] < rem[i] || rem[order[j-1]] == rem[i] && order[j-1] > i); j-- {
					order[j] = order[j-1]
				}
				order[j] = i
			}
		} else {
			slices.SortFunc(order, func(a, b int) int {
				if rem[a] != rem[b] {
					if rem[a] > rem[b] {
						return -1
					}
					return 1
				}
				return a - b
			})
		}
		for _, i := range order[:left] {
			out[i]++
		}
		e.order = order
	}
	if neg {
		for i := range out {
			out[i] = -out[i]
		}
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, 2*n)
	}
	return s[:n]
}
