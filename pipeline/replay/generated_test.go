package replay

import (
	"bytes"
	"context"
	"io"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/generate"
	"github.com/attributor/attributor/schemas"
)

// traffic returns generated NDJSON files, made once per size.
var traffic = struct {
	sync.Mutex
	files map[int][2][]byte
}{files: map[int][2][]byte{}}

func generated(tb testing.TB, events int) (tps, cvs []byte) {
	tb.Helper()
	traffic.Lock()
	defer traffic.Unlock()
	if f, ok := traffic.files[events]; ok {
		return f[0], f[1]
	}
	var tp, cv bytes.Buffer
	err := generate.Generate(generate.Config{Seed: 1, Events: events}, func(k generate.Kind, _ string, v []byte) error {
		w := &tp
		if k == generate.Conversion {
			w = &cv
		}
		w.Write(v)
		return w.WriteByte('\n')
	})
	if err != nil {
		tb.Fatal(err)
	}
	traffic.files[events] = [2][]byte{tp.Bytes(), cv.Bytes()}
	return tp.Bytes(), cv.Bytes()
}

func replayBytes(tb testing.TB, cfg Config, tps, cvs []byte, sink RowSink) (*replayer, Stats) {
	tb.Helper()
	r, err := newReplayer(cfg, sink)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := r.replay(context.Background(), Input{Name: "tp", R: bytes.NewReader(tps)}, Input{Name: "cv", R: bytes.NewReader(cvs)}, io.Discard)
	if err != nil {
		tb.Fatal(err)
	}
	return r, st
}

// Pruning bounds the state and never changes the output of time-ordered
// input: it drops only what no later conversion's windows can reach.
func TestPruningKeepsOutputAndBoundsState(t *testing.T) {
	tps, cvs := generated(t, 40_000)
	base := Config{Attribution: attribution.Config{Lookback: 2 * time.Hour, ViewWindow: time.Hour}, AllowedLateness: 10 * time.Second}
	encode := func(cfg Config) ([]byte, *replayer, Stats) {
		var out bytes.Buffer
		w := NewRowWriter(&out, NDJSON)
		r, st := replayBytes(t, cfg, tps, cvs, w)
		w.Flush()
		return out.Bytes(), r, st
	}
	never := base
	never.PruneEvery = math.MaxInt
	want, rNever, stNever := encode(never)
	often := base
	often.PruneEvery = 1000
	got, rOften, stOften := encode(often)
	if !bytes.Equal(got, want) {
		t.Errorf("pruning every 1000 events changed the output")
	}
	stNever.Elapsed, stOften.Elapsed = 0, 0
	if stNever != stOften {
		t.Errorf("stats differ:\nnever %+v\noften %+v", stNever, stOften)
	}
	if stOften.LateConversions != 0 || stOften.LateTouchpoints != 0 || stOften.DuplicateTouchpoints == 0 || stOften.DuplicateConversions == 0 {
		t.Errorf("generated traffic: %+v; want duplicates and nothing late", stOften)
	}
	// A 2-hour window over a day of traffic holds a fraction of the users.
	if n, all := len(rOften.users), len(rNever.users); n*3 > all {
		t.Errorf("pruned state holds %d users of %d", n, all)
	}
}

// Over generated traffic, every model splits every conversion exactly: the
// credits sum to 1, the revenue shares to the revenue, none is negative.
func TestCreditsSumExactly(t *testing.T) {
	tps, cvs := generated(t, 20_000)
	dec := schemas.NewDecoder(nil)
	revenue := map[string]int64{}
	for _, line := range bytes.Split(bytes.TrimSpace(cvs), []byte("\n")) {
		cv, err := dec.Conversion(line)
		if err != nil {
			t.Fatal(err)
		}
		revenue[cv.EventID] = cv.RevenueMicros
	}
	type key struct{ conv, model string }
	credit := map[key]float64{}
	micros := map[key]int64{}
	_, st := replayBytes(t, Config{}, tps, cvs, RowSinkFunc(func(r *schemas.CreditedRow) error {
		if r.Credit < 0 || r.RevenueMicros < 0 {
			t.Errorf("negative credit: %+v", *r)
		}
		k := key{r.ConversionID, r.Model}
		credit[k] += r.Credit
		micros[k] += r.RevenueMicros
		return nil
	}))
	if int64(len(credit)) != st.Attributed*int64(len(attribution.ModelNames)) {
		t.Errorf("%d (conversion, model) pairs for %d conversions", len(credit), st.Attributed)
	}
	for k, c := range credit {
		if math.Abs(c-1) > 1e-9 {
			t.Errorf("%v: credits sum to %v", k, c)
		}
		if micros[k] != revenue[k.conv] {
			t.Errorf("%v: revenue shares sum to %d, revenue is %d", k, micros[k], revenue[k.conv])
		}
	}
}

// BenchmarkReplay replays generated traffic (decode, merge, six models,
// NDJSON encoding) and reports input events per second.
func BenchmarkReplay(b *testing.B) {
	tps, cvs := generated(b, 300_000)
	b.SetBytes(int64(len(tps) + len(cvs)))
	var events int64
	for b.Loop() {
		_, st := replayBytes(b, Config{}, tps, cvs, NewRowWriter(io.Discard, NDJSON))
		events += st.Touchpoints + st.Conversions
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkRowWriterNDJSON(b *testing.B) {
	r := testRow()
	w := NewRowWriter(io.Discard, NDJSON)
	for b.Loop() {
		w.WriteRow(&r)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
