package attribution

// PositionBased (U-shaped) gives First of the credit to the first touchpoint,
// Last to the last, and splits the rest evenly over the middle ones. A single
// touchpoint gets everything; two share in the ratio First:Last (50/50 with
// the defaults).
type PositionBased struct {
	First float64 // default 0.4
	Last  float64 // default 0.4
}

var _ Model = PositionBased{}

// Name returns "position_based".
func (PositionBased) Name() string { return "position_based" }

// Weights applies the U-shaped split.
func (m PositionBased) Weights(_ Conversion, path []Touchpoint, w []float64) {
	n := len(path)
	switch {
	case n == 1:
		w[0] = 1
	case n == 2:
		ends := m.First + m.Last
		if ends <= 0 {
			w[0], w[1] = 0.5, 0.5
			return
		}
		w[0] = m.First / ends
		w[1] = 1 - w[0]
	default:
		// Validate lets First+Last exceed 1 by a rounding error; the middle
		// then gets nothing rather than a negative share.
		mid := max(0, (1-m.First-m.Last)/float64(n-2))
		for i := 1; i < n-1; i++ {
			w[i] = mid
		}
		w[0], w[n-1] = m.First, m.Last
	}
}
