package attribution_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/schemas"
)

var update = flag.Bool("update", false, "rewrite the golden files attribution/testdata/*.golden.json")

// scenario is an input file attribution/testdata/<name>.input.json: events
// on the wire, as the pipeline receives them, and the engine configuration.
type scenario struct {
	Description string `json:"description"`
	Config      struct {
		Models            []string `json:"models"`
		Lookback          string   `json:"lookback"`
		ViewWindow        string   `json:"view_window"`
		HalfLife          string   `json:"half_life"`
		FirstShare        float64  `json:"first_share"`
		LastShare         float64  `json:"last_share"`
		ResetOnConversion bool     `json:"reset_on_conversion"`
		// Fit, when set, fits markov and shapley on the scenario's own
		// events, over [first event, last event + 1 ms), as replay does.
		Fit *struct {
			MarkovOrder int `json:"markov_order"`
		} `json:"fit"`
	} `json:"config"`
	Touchpoints []json.RawMessage `json:"touchpoints"`
	Conversions []json.RawMessage `json:"conversions"`
}

// The golden output: per conversion, its path and each model's rows. Numbers
// are printed as fixed-point strings so the files are byte-exact.
type goldenConversion struct {
	ConversionID string        `json:"conversion_id"`
	UserKey      string        `json:"user_key"`
	Time         string        `json:"time"`
	Revenue      string        `json:"revenue"`
	Path         []goldenTouch `json:"path"`
	Credits      []goldenModel `json:"credits"`
}

type goldenTouch struct {
	ID          string `json:"id"`
	Time        string `json:"time"`
	Interaction string `json:"interaction"`
	Channel     string `json:"channel"`
}

type goldenModel struct {
	Model string
	Rows  []goldenRow
}

type goldenRow struct {
	Position     int    `json:"position"`
	TouchpointID string `json:"touchpoint_id"`
	Channel      string `json:"channel"`
	Credit       string `json:"credit"`
	Revenue      string `json:"revenue"`
}

// TestGolden replays each scenario through the decoder, per-user Journeys
// and the Engine, and compares the credits byte for byte with
// testdata/<name>.golden.json. Run with -update to rewrite them after an
// intended change, and review the diff.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.input.json"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no scenarios in testdata (err %v)", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".input.json")
		t.Run(name, func(t *testing.T) {
			got := runScenario(t, in)
			goldenPath := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatalf("%v (run go test ./attribution -run TestGolden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("credits differ from %s (rerun with -update if the change is intended, and review the diff)\n%s",
					goldenPath, firstDiff(got, want))
			}
		})
	}
}

func runScenario(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sc scenario
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		t.Fatalf("scenario: %v", err)
	}
	cfg := attribution.Config{
		Models:            sc.Config.Models,
		FirstShare:        sc.Config.FirstShare,
		LastShare:         sc.Config.LastShare,
		ResetOnConversion: sc.Config.ResetOnConversion,
	}
	for _, d := range []struct {
		s   string
		dst *time.Duration
	}{{sc.Config.Lookback, &cfg.Lookback}, {sc.Config.ViewWindow, &cfg.ViewWindow}, {sc.Config.HalfLife, &cfg.HalfLife}} {
		if d.s == "" {
			continue
		}
		if *d.dst, err = time.ParseDuration(d.s); err != nil {
			t.Fatalf("scenario config: %v", err)
		}
	}
	e := newEngine(t, cfg)

	decoder := schemas.NewDecoder(nil)
	journeys := map[string]*attribution.Journey{}
	for i, raw := range sc.Touchpoints {
		tp, err := decoder.Touchpoint(raw)
		if err != nil {
			t.Fatalf("touchpoints[%d]: %v", i, err)
		}
		j := journeys[tp.Key()]
		if j == nil {
			j = &attribution.Journey{}
			journeys[tp.Key()] = j
		}
		j.Add(attribution.Touchpoint{
			ID: tp.EventID, TimeMs: tp.TimeMs, Impression: tp.Interaction == schemas.InteractionImpression,
			Channel: tp.Channel, Source: tp.Source, Medium: tp.Medium, Campaign: tp.Campaign,
		})
	}
	var convs []schemas.Conversion
	for i, raw := range sc.Conversions {
		cv, err := decoder.Conversion(raw)
		if err != nil {
			t.Fatalf("conversions[%d]: %v", i, err)
		}
		convs = append(convs, cv)
	}
	slices.SortStableFunc(convs, func(a, b schemas.Conversion) int {
		if a.TimeMs != b.TimeMs {
			return int(a.TimeMs - b.TimeMs)
		}
		return strings.Compare(a.EventID, b.EventID)
	})

	if sc.Config.Fit != nil {
		setScenarioFits(t, e, cfg, sc.Config.Fit.MarkovOrder, journeys, convs)
	}

	previous := map[string]int64{} // user key -> time of the last conversion
	var out []goldenConversion
	var r attribution.Result
	for _, cv := range convs {
		var tps []attribution.Touchpoint
		if j := journeys[cv.Key()]; j != nil {
			tps = j.Touchpoints()
		}
		after := int64(attribution.NoReset)
		if last, ok := previous[cv.Key()]; ok && cfg.ResetOnConversion {
			after = last
		}
		previous[cv.Key()] = cv.TimeMs
		e.Attribute(attribution.Conversion{ID: cv.EventID, TimeMs: cv.TimeMs, RevenueMicros: cv.RevenueMicros}, tps, after, &r)

		g := goldenConversion{
			ConversionID: cv.EventID, UserKey: cv.Key(), Time: schemas.FormatTimeMs(cv.TimeMs),
			Revenue: schemas.FormatMicros(cv.RevenueMicros), Path: []goldenTouch{},
		}
		for _, tp := range r.Path {
			interaction := schemas.InteractionClick
			if tp.Impression {
				interaction = schemas.InteractionImpression
			}
			g.Path = append(g.Path, goldenTouch{ID: tp.ID, Time: schemas.FormatTimeMs(tp.TimeMs), Interaction: interaction, Channel: tp.Channel})
		}
		for m, model := range e.Models() {
			gm := goldenModel{Model: model.Name()}
			for _, c := range r.Credits {
				if c.Model != m {
					continue
				}
				row := goldenRow{Position: c.Position, Channel: schemas.ChannelNone,
					Credit: strconv.FormatFloat(c.Fraction, 'f', 12, 64), Revenue: schemas.FormatMicros(c.RevenueMicros)}
				if c.Position > 0 {
					tp := r.Path[c.Position-1]
					row.TouchpointID, row.Channel = tp.ID, tp.Channel
				}
				gm.Rows = append(gm.Rows, row)
			}
			g.Credits = append(g.Credits, gm)
		}
		out = append(out, g)
	}
	return encodeGolden(t, out)
}

// setScenarioFits fits markov and shapley on the scenario's events and
// hands the fits to e.
func setScenarioFits(t *testing.T, e *attribution.Engine, cfg attribution.Config, order int, journeys map[string]*attribution.Journey, convs []schemas.Conversion) {
	t.Helper()
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	byKey := map[string][]attribution.Conversion{}
	for _, cv := range convs {
		byKey[cv.Key()] = append(byKey[cv.Key()], attribution.Conversion{ID: cv.EventID, TimeMs: cv.TimeMs, RevenueMicros: cv.RevenueMicros})
		first, last = min(first, cv.TimeMs), max(last, cv.TimeMs)
	}
	keys := slices.Sorted(maps.Keys(journeys))
	for _, k := range keys {
		for _, tp := range journeys[k].Touchpoints() {
			first, last = min(first, tp.TimeMs), max(last, tp.TimeMs)
		}
	}
	for k := range byKey {
		if journeys[k] == nil {
			keys = append(keys, k)
		}
	}
	b, err := attribution.NewFitPathsBuilder(cfg, first, last+1)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		var tps []attribution.Touchpoint
		if j := journeys[k]; j != nil {
			tps = j.Touchpoints()
		}
		b.Add(tps, byKey[k])
	}
	m, err := attribution.FitMarkov(b.FitPaths(), order)
	if err != nil {
		t.Fatal(err)
	}
	s, err := attribution.FitShapley(b.FitPaths())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetFits(attribution.Fits{Markov: m, Shapley: s}); err != nil {
		t.Fatal(err)
	}
}

// encodeGolden writes the conversions as indented JSON with one line per
// path entry and per credit row, so that a diff shows which rows changed.
func encodeGolden(t *testing.T, convs []goldenConversion) []byte {
	t.Helper()
	line := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	var b strings.Builder
	b.WriteString("[\n")
	for i, g := range convs {
		fmt.Fprintf(&b, "  {\n    \"conversion_id\": %s,\n    \"user_key\": %s,\n    \"time\": %s,\n    \"revenue\": %s,\n",
			line(g.ConversionID), line(g.UserKey), line(g.Time), line(g.Revenue))
		b.WriteString("    \"path\": [")
		for k, tp := range g.Path {
			b.WriteString(sep(k) + "\n      " + line(tp))
		}
		if len(g.Path) > 0 {
			b.WriteString("\n    ")
		}
		b.WriteString("],\n    \"credits\": {")
		for k, m := range g.Credits {
			fmt.Fprintf(&b, "%s\n      %s: [", sep(k), line(m.Model))
			for r, row := range m.Rows {
				b.WriteString(sep(r) + "\n        " + line(row))
			}
			b.WriteString("\n      ]")
		}
		b.WriteString("\n    }\n  }" + sep(len(convs)-1-i) + "\n")
	}
	b.WriteString("]\n")
	return []byte(b.String())
}

// sep returns the comma that goes before element k > 0 of a list (used
// reversed, it is the comma after an element that is not the last).
func sep(k int) string {
	if k > 0 {
		return ","
	}
	return ""
}

// firstDiff shows the first differing line of two outputs.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + ":\n  got:  " + gl + "\n  want: " + wl
		}
	}
	return ""
}
