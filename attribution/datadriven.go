package attribution

// DataDrivenModelNames lists the models that credit by a fit of the paths
// (see FitMarkov and FitShapley) rather than by a rule. An engine applies
// them only once it has a fit (Engine.SetFits); until then it skips them.
var DataDrivenModelNames = []string{"markov", "shapley"}

// Fits carries the fits an Engine's data-driven models apply. A nil fit
// leaves its model without one: the engine skips it.
type Fits struct {
	Markov  *MarkovFit
	Shapley *ShapleyFit
}

// ModelStats counts what a model did other than its definition's main
// case, since the engine was built.
type ModelStats struct {
	// Skipped counts conversions the model gave no credit rows: a
	// data-driven model without a fit.
	Skipped uint64
	// Linear counts conversions credited linearly because the effects of
	// all the path's channels were <= 0 (e.g. channels unseen in training).
	Linear uint64
	// TooManyChannels counts conversions the shapley model credited
	// linearly because their path had more than MaxShapleyChannels
	// distinct channels.
	TooManyChannels uint64
}

// fitted is a data-driven model.
type fitted interface {
	Model
	hasFit() bool
	fitID() string
	stats() ModelStats
}

// SetFits hands the engine's data-driven models their fits; a model whose
// fit is nil is skipped from the next Attribute on. Fits are values that
// are never changed: one fit may be shared by the engines of every
// goroutine, and a newer one swapped in between two conversions, without
// a restart. SetFits validates the fits first and changes nothing when one
// is invalid. It allocates (each model indexes its fit); Attribute stays
// free of allocations.
func (e *Engine) SetFits(f Fits) error {
	if f.Markov != nil {
		if err := f.Markov.Validate(); err != nil {
			return err
		}
	}
	if f.Shapley != nil {
		if err := f.Shapley.Validate(); err != nil {
			return err
		}
	}
	for i, m := range e.models {
		switch m := m.(type) {
		case *Markov:
			m.setFit(f.Markov)
		case *Shapley:
			m.setFit(f.Shapley)
		}
		if m, ok := m.(fitted); ok {
			e.skip[i] = !m.hasFit()
		}
	}
	return nil
}

// FitID returns the ID of the fit the model at index m applies: "" for a
// rule-based model or one without a fit.
func (e *Engine) FitID(m int) string {
	if f, ok := e.models[m].(fitted); ok {
		return f.fitID()
	}
	return ""
}

// Stats returns the counts of the model at index m.
func (e *Engine) Stats(m int) ModelStats {
	var s ModelStats
	if f, ok := e.models[m].(fitted); ok {
		s = f.stats()
	}
	s.Skipped = e.skipped[m]
	return s
}

// pathChannels is the scratch of the data-driven models: the distinct
// channels of a path and how often each is touched.
type pathChannels struct {
	names  []string  // distinct channels, in order of first touch
	counts []int     // touches per channel
	at     []int     // per touchpoint: its channel's index in names
	effect []float64 // per channel: its effect, set by the model
}

func (pc *pathChannels) split(path []Touchpoint) {
	pc.names, pc.counts, pc.at = pc.names[:0], pc.counts[:0], pc.at[:0]
	for i := range path {
		c := path[i].Channel
		k := 0
		for k < len(pc.names) && pc.names[k] != c {
			k++
		}
		if k == len(pc.names) {
			pc.names = append(pc.names, c)
			pc.counts = append(pc.counts, 0)
		}
		pc.counts[k]++
		pc.at = append(pc.at, k)
	}
	pc.effect = grow(pc.effect, len(pc.names))
}

// spread writes into w each channel's share, in proportion to
// max(effect, 0), split evenly over its touchpoints. It reports false, and
// writes the linear shares, when no channel has a positive effect.
func (pc *pathChannels) spread(w []float64) bool {
	var sum float64
	for _, v := range pc.effect {
		sum += max(v, 0)
	}
	if !(sum > 0) || sum > 1e300 {
		linearWeights(w)
		return false
	}
	for i, k := range pc.at {
		w[i] = max(pc.effect[k], 0) / sum / float64(pc.counts[k])
	}
	return true
}

// linearWeights gives each of the len(w) touchpoints 1/len(w).
func linearWeights(w []float64) {
	share := 1 / float64(len(w))
	for i := range w {
		w[i] = share
	}
}
