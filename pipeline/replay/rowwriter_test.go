package replay

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/attributor/attributor/schemas"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/example")

// replayExample replays the README example into format f.
func replayExample(t *testing.T, f Format) []byte {
	t.Helper()
	dir := filepath.Join("..", "..", "testdata", "example")
	tp, err := os.Open(filepath.Join(dir, "touchpoints.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	cv, err := os.Open(filepath.Join(dir, "conversions.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer cv.Close()
	var out bytes.Buffer
	w := NewRowWriter(&out, f)
	if _, err := Run(context.Background(), Config{}, Input{Name: "tp", R: tp}, Input{Name: "cv", R: cv}, w, new(bytes.Buffer)); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// The byte-exact output of `attributor replay` on the README example, in both
// formats. Run with -update after a deliberate change and review the diff.
func TestGoldenExample(t *testing.T) {
	for _, f := range []Format{NDJSON, CSV} {
		got := replayExample(t, f)
		path := filepath.Join("..", "..", "testdata", "example", "credited."+string(f))
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s output differs from %s:\n%s", f, path, got)
		}
	}
}

func testRow() schemas.CreditedRow {
	return schemas.CreditedRow{
		ConversionID: "c-1", ConversionType: "purchase", UserKey: "user \"7\"", Model: "linear",
		TouchpointID: "t-1", Channel: "paid_search", Source: "google", Medium: "cpc",
		Campaign: "black friday, 50% \"off\"\nline two", Interaction: "click", Credit: 1.0 / 3,
		RevenueMicros: 33_333_334, Currency: "EUR", TouchpointTimeMs: 1795739400123, ConversionTimeMs: 1795742700000,
		Position: 1, PathLength: 3,
	}
}

func TestCSV(t *testing.T) {
	rows := []schemas.CreditedRow{testRow(), {ConversionID: "c-2", Model: "last_click", Channel: schemas.ChannelNone,
		Credit: 1, RevenueMicros: 5_000_000, ConversionTimeMs: 1795742700000, Campaign: " leading space"}}
	var out bytes.Buffer
	w := NewRowWriter(&out, CSV)
	for i := range rows {
		if err := w.WriteRow(&rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatalf("encoding/csv cannot read the output: %v", err)
	}
	if !reflect.DeepEqual(recs[0], Columns) {
		t.Errorf("header = %v, want %v", recs[0], Columns)
	}
	want := [][]string{
		{"c-1", "purchase", `user "7"`, "linear", "t-1", "paid_search", "google", "cpc", "black friday, 50% \"off\"\nline two",
			"click", "0.3333333333333333", "33.333334", "EUR", "2026-11-27T00:30:00.123Z", "2026-11-27T01:25:00.000Z", "1", "3", ""},
		{"c-2", "", "", "last_click", "", "(none)", "", "", " leading space", "", "1", "5.000000", "", "", "2026-11-27T01:25:00.000Z", "0", "0", ""},
	}
	if !reflect.DeepEqual(recs[1:], want) {
		t.Errorf("records:\n got %q\nwant %q", recs[1:], want)
	}

	// An empty output still has its header.
	out.Reset()
	w = NewRowWriter(&out, CSV)
	w.Flush()
	if got := out.String(); got != strings.Join(Columns, ",")+"\n" {
		t.Errorf("empty CSV = %q", got)
	}
}

func TestJSONMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "new\nline\r\t", "\x00\x01\x1f\x7f", "é ü 日本",
		"bad \xff utf8 \xc3", "sep\u2028\u2029", "<html>&"} {
		got := appendJSONString(nil, s)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		if want := strings.TrimSuffix(buf.String(), "\n"); string(got) != want {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestReadRowsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var want []schemas.CreditedRow
	var out bytes.Buffer
	w := NewRowWriter(&out, NDJSON)
	for i := range 500 {
		r := testRow()
		r.ConversionID = "c" + strconv.Itoa(i)
		r.Credit = rng.Float64()
		r.RevenueMicros = rng.Int64N(1e15)
		r.TouchpointTimeMs = schemas.MinTimeMs + rng.Int64N(schemas.MaxTimeMs-schemas.MinTimeMs)
		r.ConversionTimeMs = r.TouchpointTimeMs + rng.Int64N(1e9)
		if i%7 == 0 { // unattributed
			r.TouchpointID, r.Channel, r.Source, r.Medium, r.Campaign, r.Interaction = "", schemas.ChannelNone, "", "", "", ""
			r.TouchpointTimeMs, r.Position, r.PathLength, r.Credit = 0, 0, 0, 1
		}
		want = append(want, r)
		w.WriteRow(&r)
	}
	w.Flush()
	got, err := ReadRows(&out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip differs")
	}
	if _, err := ReadRows(strings.NewReader(`{"conversion_id":"c","surprise":1}`)); err == nil {
		t.Errorf("unknown field accepted")
	}
}

func TestAppendMicros(t *testing.T) {
	for _, m := range []int64{0, 1, 10, 999_999, 1_000_000, 33_333_334, -1, -1_500_000, math.MaxInt64, math.MinInt64 + 1} {
		if got, want := string(AppendMicros(nil, m)), schemas.FormatMicros(m); got != want {
			t.Errorf("AppendMicros(%d) = %s, want %s", m, got, want)
		}
		if m >= -999_999_999_999_999 && m <= 999_999_999_999_999 {
			if back, err := ParseMicros(schemas.FormatMicros(m)); err != nil || back != m {
				t.Errorf("ParseMicros(%s) = %d, %v", schemas.FormatMicros(m), back, err)
			}
		}
	}
	for _, s := range []string{"1.5", "100", "0.000001", "-2.25"} {
		if _, err := ParseMicros(s); err != nil {
			t.Errorf("ParseMicros(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "1.2345678", "1e3", "abc", ".5", "1.-5", "--1"} {
		if v, err := ParseMicros(s); err == nil {
			t.Errorf("ParseMicros(%q) = %d, want an error", s, v)
		}
	}
}

func TestAppendTimeMs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []int64{1, -1, schemas.MinTimeMs, schemas.MaxTimeMs - 1, 951782400000 /* 2000-02-29 */, 4107542399999, -62135596800000, 253402300799999}
	for range 20000 {
		cases = append(cases, schemas.MinTimeMs+rng.Int64N(schemas.MaxTimeMs-schemas.MinTimeMs))
	}
	for _, ms := range cases {
		if got, want := string(AppendTimeMs(nil, ms)), schemas.FormatTimeMs(ms); got != want {
			t.Fatalf("AppendTimeMs(%d) = %s, want %s", ms, got, want)
		}
	}
	if got := AppendTimeMs([]byte("x"), 0); string(got) != "x" {
		t.Errorf("AppendTimeMs(0) appended %q", got)
	}
}

func TestParseFormat(t *testing.T) {
	if f, err := ParseFormat("csv"); err != nil || f != CSV {
		t.Errorf("ParseFormat(csv) = %v, %v", f, err)
	}
	if _, err := ParseFormat("xml"); err == nil || !strings.HasPrefix(err.Error(), "format: ") {
		t.Errorf("ParseFormat(xml) = %v", err)
	}
}

// AppendJSON writes the keys of Columns, in order (Columns is derived from
// schemas.CreditedColumns; the encoder is written out by hand for speed).
func TestAppendJSONKeysAreColumns(t *testing.T) {
	b := AppendJSON(nil, &schemas.CreditedRow{ConversionID: "c1", Model: "linear", Credit: 0.5, RevenueMicros: 1, TouchpointTimeMs: 1, ConversionTimeMs: 2})
	dec := json.NewDecoder(bytes.NewReader(b))
	var keys []string
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		if _, err := dec.Token(); err != nil { // the value
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(keys, Columns) {
		t.Fatalf("JSON keys %v, want Columns %v", keys, Columns)
	}
}
