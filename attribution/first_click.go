package attribution

// FirstClick gives all the credit to the first click of the path. A path of
// impressions only (view-through) credits its first impression.
type FirstClick struct{}

var _ Model = FirstClick{}

// Name returns "first_click".
func (FirstClick) Name() string { return "first_click" }

// Weights credits the first click, else the first touchpoint.
func (FirstClick) Weights(_ Conversion, path []Touchpoint, w []float64) {
	clear64(w)
	for i := range path {
		if !path[i].Impression {
			w[i] = 1
			return
		}
	}
	w[0] = 1
}
