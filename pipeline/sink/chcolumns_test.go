package sink

import (
	"reflect"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// filled returns one proto column of each type the sink writes, with rows.
func filled() map[column.Type]proto.ColInput {
	var s proto.ColStr
	s.Append("a")
	s.Append("")
	s.Append("ünïcode")
	d := proto.ColDate{dayOf(0), dayOf(1_700_000_000_000), dayOf(86_400_000 - 1)}
	i64 := proto.ColInt64{1, -2, 1 << 62}
	i32 := proto.ColInt32{3, -4, 5}
	u32 := proto.ColUInt32{6, 7, 1<<32 - 1}
	u8 := proto.ColUInt8{0, 1, 255}
	f64 := proto.ColFloat64{0.25, 1, 0}
	return map[column.Type]proto.ColInput{
		"String": &s, "Date": &d, "Int64": &i64, "Int32": &i32, "UInt32": &u32, "UInt8": &u8, "Float64": &f64,
	}
}

func rowsOf(t *testing.T, c column.Interface) []any {
	t.Helper()
	var out []any
	for i := range c.Rows() {
		out = append(out, c.Row(i, false))
	}
	return out
}

// The fast path: a prepared batch's clickhouse-go column takes the sink's
// proto column whole. If a clickhouse-go upgrade moves the field, the sink
// still works (through Append) but loses its speed; this test says so.
func TestColumnHandOver(t *testing.T) {
	for typ, src := range filled() {
		dst, err := typ.Column("c", &column.ServerContext{Timezone: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		if !handOver(dst, src) {
			t.Fatalf("%s: handOver failed: clickhouse-go's column layout changed (see chcolumns.go)", typ)
		}
		// The same values as clickhouse-go's own Append gives.
		want, err := typ.Column("c", &column.ServerContext{Timezone: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		v, err := appendValues(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := want.Append(v); err != nil {
			t.Fatalf("%s: Append: %v", typ, err)
		}
		if got, exp := rowsOf(t, dst), rowsOf(t, want); !reflect.DeepEqual(got, exp) || len(got) != 3 {
			t.Errorf("%s: handed over %v, Append gives %v", typ, got, exp)
		}
	}
}

// A column that is not laid out as expected is refused, not corrupted.
func TestColumnHandOverRefusesOtherLayouts(t *testing.T) {
	dst, err := column.Type("String").Column("c", nil)
	if err != nil {
		t.Fatal(err)
	}
	i64 := proto.ColInt64{1}
	if handOver(dst, &i64) {
		t.Fatal("an Int64 column was handed to a String column")
	}
	if dst.Rows() != 0 {
		t.Fatalf("refused hand-over left %d rows", dst.Rows())
	}
}

func TestDayOf(t *testing.T) {
	for _, tc := range []struct {
		ms   int64
		want string
	}{
		{0, "1970-01-01"},
		{86_400_000 - 1, "1970-01-01"},
		{86_400_000, "1970-01-02"},
		{time.Date(2026, 11, 29, 23, 59, 59, 999e6, time.UTC).UnixMilli(), "2026-11-29"},
		{time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC).UnixMilli(), "2026-11-30"},
	} {
		if got := dayOf(tc.ms).Time().UTC().Format(time.DateOnly); got != tc.want {
			t.Errorf("dayOf(%d) = %s, want %s", tc.ms, got, tc.want)
		}
	}
}

// The Array columns of attributed_conversions take the fast path too, with
// the same rows as clickhouse-go's Append gives, empty arrays included.
func TestArrayColumnHandOver(t *testing.T) {
	var s strArr
	for _, row := range [][]string{{"a", "b"}, {}, {"ünïcode"}} {
		for _, v := range row {
			s.Data.Append(v)
		}
		s.EndRow()
	}
	var i int64Arr
	for _, row := range [][]int64{{}, {1, -2, 1 << 62}, {0}} {
		for _, v := range row {
			i.Data.Append(v)
		}
		i.EndRow()
	}
	var f f64Arr
	for _, row := range [][]float64{{0.25, 0.75}, {1}, {}} {
		for _, v := range row {
			f.Data.Append(v)
		}
		f.EndRow()
	}
	for typ, src := range map[column.Type]arrayInput{"Array(String)": &s, "Array(Int64)": &i, "Array(Float64)": &f} {
		if got := string(src.Type()); got != string(typ) {
			t.Errorf("%s: Type() = %s", typ, got)
		}
		dst, err := typ.Column("c", &column.ServerContext{Timezone: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		if !handOverArray(dst, src) {
			t.Fatalf("%s: handOverArray failed: clickhouse-go's Array column layout changed (see chcolumns.go)", typ)
		}
		want, err := typ.Column("c", &column.ServerContext{Timezone: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		v, err := appendValues(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := want.Append(v); err != nil {
			t.Fatalf("%s: Append: %v", typ, err)
		}
		if got, exp := rowsOf(t, dst), rowsOf(t, want); !reflect.DeepEqual(got, exp) || len(got) != 3 {
			t.Errorf("%s: handed over %v, Append gives %v", typ, got, exp)
		}
	}
	// A plain column is not an array: refused, untouched.
	dst, _ := column.Type("String").Column("c", nil)
	if handOverArray(dst, &s) || dst.Rows() != 0 {
		t.Error("an array was handed to a String column")
	}
}
