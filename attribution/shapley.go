package attribution

// Shapley credits by set-based Shapley values (see ShapleyFit): the
// distinct channels of the path share the conversion in proportion to
// max(φ, 0), and a channel's share is split evenly over its touchpoints.
// A path whose channel set was seen converting in training uses the fit's
// φ; another is computed from the fit's p(S), exactly, up to
// MaxShapleyChannels distinct channels. A path with more channels, or whose
// φ are all <= 0, is credited linearly and counted in ModelStats. Without
// a fit the engine skips the model.
type Shapley struct {
	fit *ShapleyFit
	t   *shapleyTable

	pc  pathChannels
	ids []int32   // the path's known channels' ids, sorted
	of  []int     // per entry of ids: the channel's index in pc.names
	phi []float64 // per entry of ids
	sc  shapleyScratch
	st  ModelStats
}

var (
	_ Model  = (*Shapley)(nil)
	_ fitted = (*Shapley)(nil)
)

// Name returns "shapley".
func (*Shapley) Name() string { return "shapley" }

// Weights splits the credit by the Shapley values of the path's channels.
func (m *Shapley) Weights(_ Conversion, path []Touchpoint, w []float64) {
	m.pc.split(path)
	n := len(m.pc.names)
	if m.t == nil { // called without a fit (an Engine skips the model then)
		linearWeights(w)
		m.st.Linear++
		return
	}
	if n > MaxShapleyChannels {
		linearWeights(w)
		m.st.TooManyChannels++
		return
	}
	m.ids, m.of = m.ids[:0], m.of[:0]
	for k, c := range m.pc.names {
		m.pc.effect[k] = 0
		id, ok := m.t.id[c]
		if !ok {
			continue // unseen in training: φ <= 0
		}
		// Insertion by id: at most 20 entries.
		j := len(m.ids)
		m.ids, m.of = append(m.ids, id), append(m.of, k)
		for ; j > 0 && m.ids[j-1] > id; j-- {
			m.ids[j], m.of[j] = m.ids[j-1], m.of[j-1]
		}
		m.ids[j], m.of[j] = id, k
	}
	m.phi = grow(m.phi, len(m.ids))
	phi := m.phi
	if len(m.ids) == n {
		if j := m.t.lookup(m.ids); j >= 0 && m.fit.Sets[j].Phi != nil {
			phi = m.fit.Sets[j].Phi
		} else {
			m.t.phi(m.ids, n, phi, &m.sc)
		}
	} else if len(m.ids) > 0 {
		m.t.phi(m.ids, n, phi, &m.sc)
	}
	for j, k := range m.of {
		m.pc.effect[k] = phi[j]
	}
	if !m.pc.spread(w) {
		m.st.Linear++
	}
}

func (m *Shapley) setFit(f *ShapleyFit) {
	m.fit, m.t = f, nil
	if f != nil {
		m.t = newShapleyTable(f)
	}
}

func (m *Shapley) hasFit() bool      { return m.fit != nil }
func (m *Shapley) stats() ModelStats { return m.st }
func (m *Shapley) fitID() string {
	if m.fit == nil {
		return ""
	}
	return m.fit.ID
}
