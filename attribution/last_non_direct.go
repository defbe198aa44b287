package attribution

// DirectChannel is the channel that LastNonDirect passes over.
const DirectChannel = "direct"

// LastNonDirect gives all the credit to the last touchpoint whose channel is
// not direct; a path of direct touchpoints only credits its last one.
type LastNonDirect struct{}

var _ Model = LastNonDirect{}

// Name returns "last_non_direct".
func (LastNonDirect) Name() string { return "last_non_direct" }

// Weights credits the last non-direct touchpoint.
func (LastNonDirect) Weights(_ Conversion, path []Touchpoint, w []float64) {
	clear64(w)
	for i := len(path) - 1; i >= 0; i-- {
		if path[i].Channel != DirectChannel {
			w[i] = 1
			return
		}
	}
	w[len(path)-1] = 1
}
