package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

func chErr(code int32, msg string) error {
	return &clickhouse.Exception{Code: code, Message: msg}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want Class
	}{
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, Transient},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), Transient},
		{"eof", io.EOF, Transient},
		{"timeout", context.DeadlineExceeded, Transient},
		{"too many parts", chErr(252, "Too many parts (300)"), Transient},
		{"memory limit", chErr(241, "Memory limit (for query) exceeded"), Transient},
		{"shutting down", chErr(236, "Server is shutting down"), Transient},
		{"socket timeout", chErr(209, "Timeout exceeded while reading from socket"), Transient},
		{"unknown code", chErr(1000, "POCO_EXCEPTION"), Transient},
		{"cannot parse", chErr(6, "Cannot parse string 'x' as UInt64"), Refused},
		{"type mismatch", chErr(53, "Type mismatch"), Refused},
		{"out of range", chErr(321, "Value is out of range"), Refused},
		{"throwIf", chErr(395, "Value passed to 'throwIf' function is non zero"), Refused},
		{"cannot parse date", chErr(38, "Cannot parse date"), Refused},
		{"unknown table", chErr(60, "Table db.t doesn't exist."), Unusable},
		{"unknown database", chErr(81, "Database db doesn't exist"), Unusable},
		{"no such column", chErr(16, "There is no column x in table"), Unusable},
		{"wrong number of columns", chErr(7, "Number of columns doesn't match"), Unusable},
		{"readonly", chErr(164, "Cannot execute query in readonly mode"), Unusable},
		{"access denied", chErr(291, "Access denied to database db"), Unusable},
		{"column changed type", &column.ColumnConverterError{Op: "Append", To: "UInt8", From: "[]string"}, Unusable},
		{"columns prepared", &columnsError{prepared: 14, given: 15}, Unusable},
		{"wrapped in a table error", &TableError{Table: "conversions", Err: chErr(60, "gone")}, Unusable},
		{"joined", errors.Join(&TableError{Table: "touchpoints", Err: chErr(6, "bad")}), Refused},
		// The text must not matter: a network error saying "Cannot parse" is transient.
		{"by code, not text", errors.New("code: 6, message: Cannot parse"), Transient},
	} {
		if got := Classify(c.err); got != c.want {
			t.Errorf("%s: Classify(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

// A write failing in several tables: any unusable table wins, any
// transient part retries the whole batch, only refusals everywhere split.
func TestClassifyWrite(t *testing.T) {
	refusedTP := &TableError{Table: tableTouchpoints, Err: chErr(6, "bad")}
	refusedCr := &TableError{Table: tableCredited, Err: chErr(6, "bad")}
	gone := &TableError{Table: tableConversions, Err: chErr(60, "gone")}
	down := &TableError{Table: tableSpend, Err: io.EOF}
	for _, c := range []struct {
		err      error
		class    Class
		refusing string
		table    string
	}{
		{errors.Join(refusedTP, refusedCr), Refused, "touchpoints,attributed_conversions", ""},
		{errors.Join(refusedTP, down), Transient, "", ""},
		{errors.Join(refusedTP, down, gone), Unusable, "", tableConversions},
		{errors.New("dead-letter topic: broker away"), Transient, "", ""},
	} {
		f := classifyWrite(c.err)
		if f.class != c.class || strings.Join(f.refusing, ",") != c.refusing || f.table != c.table {
			t.Errorf("classifyWrite(%v) = %v %v %q, want %v %q %q", c.err, f.class, f.refusing, f.table, c.class, c.refusing, c.table)
		}
	}
}

// fakeTables stands for ClickHouse: it refuses an INSERT holding a
// touchpoint whose event id starts with "bad" (as a parse error, all or
// nothing like a real block) or any credited row of a conversion "bad...",
// fails the first `down` inserts with a network error, and keeps what it
// took.
type fakeTables struct {
	mu      sync.Mutex
	down    int
	gone    string // a table answering UNKNOWN_TABLE
	written map[string][]string
	calls   int
}

func (f *fakeTables) insert(_ context.Context, table string, units []*flow.Unit, _ *insertColumns) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, u := range units {
		switch table {
		case tableTouchpoints:
			for _, r := range u.TPs {
				ids = append(ids, r.TP.EventID)
			}
		case tableConversions:
			for _, r := range u.Convs {
				ids = append(ids, r.CV.EventID)
			}
		case tableCredited:
			for _, set := range u.Credits.Sets {
				for range set.CellsLen {
					ids = append(ids, set.ConversionID)
				}
			}
		}
	}
	if len(ids) == 0 { // no rows, no INSERT (as insertTable)
		return nil
	}
	f.calls++
	if f.down > 0 {
		f.down--
		return &TableError{Table: table, Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	}
	if table == f.gone {
		return &TableError{Table: table, Err: chErr(60, "Table db."+table+" doesn't exist.")}
	}
	for _, id := range ids {
		if strings.HasPrefix(id, "bad") {
			return &TableError{Table: table, Err: chErr(6, "Cannot parse string '"+id+"' as UInt64")}
		}
	}
	if f.written == nil {
		f.written = map[string][]string{}
	}
	f.written[table] = append(f.written[table], ids...)
	return nil
}

// startFake runs a sink over fake tables; stop cancels it and returns
// what Run returned.
func startFake(t *testing.T, f *fakeTables) (*Sink, *recordingWriter, *flow.Stats, func() error, <-chan error) {
	t.Helper()
	w := &recordingWriter{}
	st := &flow.Stats{}
	s := New(nil, w, Config{Database: "db", Shards: 1, FlushInterval: 10 * time.Millisecond}.WithDefaults(), st)
	s.insert = f.insert
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- s.Run(ctx) }()
	t.Cleanup(cancel)
	return s, w, st, func() error {
		cancel()
		select {
		case err := <-res:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("sink did not stop")
			return nil
		}
	}, res
}

func barrier(t *testing.T, s *Sink) {
	t.Helper()
	b := make(chan error, 1)
	s.In <- Msg{Barrier: b}
	select {
	case <-b:
	case <-time.After(20 * time.Second):
		t.Fatal("barrier not reached: the batch is not durable")
	}
}

func tpUnit(acker flow.Acker, offset int64, ids ...string) *flow.Unit {
	u := flow.GetUnit()
	for _, id := range ids {
		u.TPs = append(u.TPs, flow.TPRow{TP: schemas.Touchpoint{EventID: id, UserID: "u-" + id, Channel: "email", TimeMs: 1_700_000_000_000}, Partition: 2})
	}
	u.Acks = append(u.Acks, flow.Ack{To: acker, Offset: offset})
	return u
}

// A network error is retried, counted and logged as before; the batch is
// written once ClickHouse is back, and only then acknowledged.
func TestSinkRetriesTransientThenRecovers(t *testing.T) {
	f := &fakeTables{down: 3}
	s, w, st, stop, _ := startFake(t, f)
	acker := &recordingAcker{}
	s.Send(context.Background(), 0, 1, tpUnit(acker, 7, "t1", "t2"))
	barrier(t, s)
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if got := st.InsertErrors.Load(); got != 3 {
		t.Errorf("InsertErrors = %d, want 3", got)
	}
	if got := fmt.Sprint(f.written[tableTouchpoints]); got != "[t1 t2]" {
		t.Errorf("written = %s, want [t1 t2]", got)
	}
	if len(w.msgs) != 0 || st.Refused.Load() != 0 {
		t.Errorf("a transient error dead-lettered %d records, refused %d", len(w.msgs), st.Refused.Load())
	}
	if fmt.Sprint(acker.done) != "[7]" || st.FailingSince.Load() != 0 {
		t.Errorf("acked %v, failing since %d; want [7], 0", acker.done, st.FailingSince.Load())
	}
}

// Rows refused for their values are found by splitting the batch: they
// are dead-lettered with the server's message and the table, the rest is
// written, every message is acknowledged, and the counters say so.
func TestSinkDeadLettersRefusedRowsAndWritesTheRest(t *testing.T) {
	f := &fakeTables{}
	s, w, st, stop, _ := startFake(t, f)
	acker := &recordingAcker{}
	var ids []string
	for i := range 40 {
		ids = append(ids, fmt.Sprint("t", i))
	}
	ids[5], ids[31] = "bad-5", "bad-31"
	s.Send(context.Background(), 0, 1, tpUnit(acker, 10, ids[:20]...))
	u := tpUnit(acker, 11, ids[20:]...)
	u.Credits.Models = []string{"linear"}
	for _, cid := range []string{"c1", "bad-c2", "c3"} {
		u.Credits.Sets = append(u.Credits.Sets, flow.CreditSet{ConversionID: cid, ConversionType: "purchase", UserKey: "u", Cells: uint32(len(u.Credits.Cells)), CellsLen: 2})
		u.Credits.Cells = append(u.Credits.Cells, flow.CreditCell{Fraction: .5, Position: 0}, flow.CreditCell{Fraction: .5, Position: 0})
	}
	s.Send(context.Background(), 0, 2, u)
	barrier(t, s)
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if got := len(f.written[tableTouchpoints]); got != 38 {
		t.Errorf("touchpoints written = %d, want 38", got)
	}
	for _, id := range f.written[tableTouchpoints] {
		if strings.HasPrefix(id, "bad") {
			t.Errorf("refused row %s written", id)
		}
	}
	if got := fmt.Sprint(f.written[tableCredited]); got != "[c1 c1 c3 c3]" {
		t.Errorf("credited written = %s, want [c1 c1 c3 c3]", got)
	}
	got := map[string]string{}
	for _, m := range w.msgs {
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		if h["attributor.reason"] != flow.ReasonRefused || !strings.Contains(h["attributor.error"], "Cannot parse string '"+string(m.Key)+"'") {
			t.Errorf("record %s: headers %v", m.Key, h)
		}
		var v struct {
			Table string         `json:"table"`
			Row   map[string]any `json:"row"`
		}
		if err := json.Unmarshal(m.Value, &v); err != nil || v.Table != h["attributor.table"] {
			t.Errorf("record %s: value %s (%v), table header %q", m.Key, m.Value, err, h["attributor.table"])
		}
		if p, ok := h["attributor.source_partition"]; h["attributor.table"] == tableTouchpoints && p != "2" || h["attributor.table"] == tableCredited && ok {
			t.Errorf("record %s: source partition %q (set %v); want 2 for a touchpoint, none for a credited set", m.Key, p, ok)
		}
		got[string(m.Key)] = h["attributor.table"]
	}
	want := map[string]string{"bad-5": tableTouchpoints, "bad-31": tableTouchpoints, "bad-c2": tableCredited}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("dead-lettered %v, want %v", got, want)
	}
	if r, d, c := st.Refused.Load(), st.DeadLetters.Load(), st.CreditedRows.Load(); r != 4 || d != 3 || c != 4 {
		t.Errorf("refused rows %d, dead letters %d, credited rows %d; want 4, 3, 4", r, d, c)
	}
	if fmt.Sprint(acker.done) != "[10 11]" {
		t.Errorf("acked %v, want [10 11]", acker.done)
	}
}

// A table that cannot take any row stops Run with an error naming it,
// after one attempt, without acknowledging the batch.
func TestSinkStopsOnUnusableTable(t *testing.T) {
	f := &fakeTables{gone: tableTouchpoints}
	s, _, _, _, ended := startFake(t, f)
	acker := &recordingAcker{}
	s.Send(context.Background(), 0, 1, tpUnit(acker, 3, "t1"))
	var err error
	select {
	case err = <-ended: // by itself, the context still live
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop on an unusable table")
	}
	var ue *UnusableError
	if !errors.As(err, &ue) || ue.Table != tableTouchpoints || !strings.Contains(err.Error(), "db.touchpoints") || !strings.Contains(err.Error(), "doesn't exist") {
		t.Fatalf("Run = %v, want an *UnusableError naming db.touchpoints with the server's message", err)
	}
	if n := f.callsNow(); n != 1 {
		t.Errorf("%d inserts, want 1: an unusable table is not retried", n)
	}
	if len(acker.done) != 0 {
		t.Errorf("acked %v, want nothing", acker.done)
	}
}

func (f *fakeTables) callsNow() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}
