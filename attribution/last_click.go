package attribution

// LastClick gives all the credit to the last click of the path. A path of
// impressions only (view-through) credits its last impression.
type LastClick struct{}

var _ Model = LastClick{}

// Name returns "last_click".
func (LastClick) Name() string { return "last_click" }

// Weights credits the last click, else the last touchpoint.
func (LastClick) Weights(_ Conversion, path []Touchpoint, w []float64) {
	clear64(w)
	for i := len(path) - 1; i >= 0; i-- {
		if !path[i].Impression {
			w[i] = 1
			return
		}
	}
	w[len(path)-1] = 1
}
