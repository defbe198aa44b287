package attribution

// Linear splits the credit evenly: 1/n to each of the n touchpoints.
type Linear struct{}

var _ Model = Linear{}

// Name returns "linear".
func (Linear) Name() string { return "linear" }

// Weights gives every touchpoint 1/n.
func (Linear) Weights(_ Conversion, path []Touchpoint, w []float64) {
	share := 1 / float64(len(path))
	for i := range w {
		w[i] = share
	}
}
