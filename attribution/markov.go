package attribution

// Markov credits by removal effects (see MarkovFit): the distinct channels
// of the path share the conversion in proportion to max(RE, 0), and a
// channel's share is split evenly over its touchpoints. When the effects of
// all the path's channels are 0 (e.g. channels unseen in training) the
// path is credited linearly, and counted in ModelStats.Linear. Without a
// fit the engine skips the model.
type Markov struct {
	fit    *MarkovFit
	effect map[string]float64
	pc     pathChannels
	st     ModelStats
}

var (
	_ Model  = (*Markov)(nil)
	_ fitted = (*Markov)(nil)
)

// Name returns "markov".
func (*Markov) Name() string { return "markov" }

// Weights splits the credit by the fit's removal effects.
func (m *Markov) Weights(_ Conversion, path []Touchpoint, w []float64) {
	m.pc.split(path)
	for k, c := range m.pc.names {
		m.pc.effect[k] = m.effect[c] // 0 when unseen
	}
	if !m.pc.spread(w) {
		m.st.Linear++
	}
}

func (m *Markov) setFit(f *MarkovFit) {
	m.fit, m.effect = f, nil
	if f == nil {
		return
	}
	m.effect = make(map[string]float64, len(f.Effects))
	for _, e := range f.Effects {
		m.effect[e.Channel] = e.RemovalEffect
	}
}

func (m *Markov) hasFit() bool      { return m.fit != nil }
func (m *Markov) stats() ModelStats { return m.st }
func (m *Markov) fitID() string {
	if m.fit == nil {
		return ""
	}
	return m.fit.ID
}
