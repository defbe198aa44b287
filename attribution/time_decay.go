package attribution

import "math"

// TimeDecay weighs each touchpoint by 2^(-age/HalfLifeMs), where age is the
// time from the touchpoint to the conversion, and normalises the weights:
// a touchpoint one half-life older than another earns half its credit.
type TimeDecay struct {
	HalfLifeMs int64 // > 0; default 7 days
}

var _ Model = TimeDecay{}

// Name returns "time_decay".
func (TimeDecay) Name() string { return "time_decay" }

// Weights computes the normalised decay weights. The weights are computed
// relative to the newest touchpoint, so that old paths never underflow to 0.
func (m TimeDecay) Weights(conv Conversion, path []Touchpoint, w []float64) {
	newest := path[len(path)-1].TimeMs
	hl := float64(m.HalfLifeMs)
	sum := 0.0
	for i := range path {
		w[i] = math.Exp2(-float64(newest-path[i].TimeMs) / hl)
		sum += w[i]
	}
	for i := range w {
		w[i] /= sum
	}
}
