package attribution

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

// exactAbsorption solves the chain in rational arithmetic: the reference
// the float64 solve is checked against.
func exactAbsorption(c *chain, removed func(int) bool) *big.Rat {
	var kept []int
	pos := make([]int, c.n)
	for s := range c.n {
		pos[s] = -1
		if removed == nil || !removed(s) {
			pos[s] = len(kept)
			kept = append(kept, s)
		}
	}
	m := len(kept)
	a := make([][]*big.Rat, m)
	b := make([]*big.Rat, m)
	for i, s := range kept {
		a[i] = make([]*big.Rat, m)
		for j := range a[i] {
			a[i][j] = new(big.Rat)
		}
		a[i][i].SetInt64(1)
		out := new(big.Int).SetUint64(c.out[s])
		for _, e := range c.next[s] {
			if j := pos[e.to]; j >= 0 {
				a[i][j].Sub(a[i][j], new(big.Rat).SetFrac(new(big.Int).SetUint64(e.count), out))
			}
		}
		b[i] = new(big.Rat).SetFrac(new(big.Int).SetUint64(c.conv[s]), out)
	}
	for k := range m {
		for i := k + 1; i < m; i++ {
			if a[i][k].Sign() == 0 {
				continue
			}
			f := new(big.Rat).Quo(a[i][k], a[k][k])
			for j := k; j < m; j++ {
				a[i][j].Sub(a[i][j], new(big.Rat).Mul(f, a[k][j]))
			}
			b[i].Sub(b[i], new(big.Rat).Mul(f, b[k]))
		}
	}
	for k := m - 1; k >= 0; k-- {
		for j := k + 1; j < m; j++ {
			b[k].Sub(b[k], new(big.Rat).Mul(a[k][j], b[j]))
		}
		b[k].Quo(b[k], a[k][k])
	}
	p := new(big.Rat)
	for _, e := range c.start {
		if j := pos[e.to]; j >= 0 {
			p.Add(p, new(big.Rat).Mul(new(big.Rat).SetFrac(new(big.Int).SetUint64(e.count), new(big.Int).SetUint64(c.startOut)), b[j]))
		}
	}
	return p
}

// randomFitPaths draws distinct-ish paths over up to nch channels, with
// repeats and cycles.
func randomFitPaths(rng *rand.Rand, nch, npaths, maxLen int) FitPaths {
	var in FitPaths
	for range npaths {
		p := FitPath{Conversions: uint64(rng.IntN(4)), Nulls: uint64(rng.IntN(6))}
		for range 1 + rng.IntN(maxLen) {
			p.Channels = append(p.Channels, fmt.Sprintf("ch%d", rng.IntN(nch)))
		}
		in.Paths = append(in.Paths, p)
	}
	in.Paths = append(in.Paths, FitPath{Channels: []string{"ch0"}, Conversions: 1})
	return in
}

// TestAbsorptionExact compares the float64 solve of P and every P₋c with
// an exact rational solve, on random chains of every order.
func TestAbsorptionExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 1))
	worst := 0.0
	for iter := range 60 {
		order := 1 + iter%4
		in := randomFitPaths(rng, 2+rng.IntN(4), 1+rng.IntN(25), 6)
		f, err := FitMarkov(in, order)
		if err != nil {
			t.Fatal(err)
		}
		c := f.chain()
		check := func(what string, got float64, removed func(int) bool) {
			want, _ := exactAbsorption(c, removed).Float64()
			rel := math.Abs(got-want) / max(want, 1e-300)
			if want == 0 {
				rel = math.Abs(got)
			}
			worst = max(worst, rel)
			if rel > 1e-13 {
				t.Errorf("iteration %d (order %d, %d states): %s = %.17g, exact %.17g", iter, order, c.n, what, got, want)
			}
		}
		check("P", f.P, nil)
		for _, e := range f.Effects {
			check("P without "+e.Channel, e.PWithout, func(s int) bool { return slices.Contains(f.States[s].Channels, e.Channel) })
			if !(e.RemovalEffect >= 0 && e.RemovalEffect <= 1) {
				t.Errorf("iteration %d: RE(%s) = %v outside [0, 1]", iter, e.Channel, e.RemovalEffect)
			}
		}
	}
	t.Logf("worst relative error %.3g", worst)
}
