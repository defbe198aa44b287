package sink

import (
	"context"
	"fmt"
	"reflect"
	"time"
	"unsafe"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Appending a batch's values through clickhouse-go copies each of them into
// column buffers that start empty for every INSERT and grow by doubling.
// Profiled end to end, that was over half of all the bytes the attributor
// allocated, and the garbage collector's work with them its largest cost.
//
// clickhouse-go keeps a column's data in a ch-go proto column, in a field
// named col (lib/column: `type String struct { name string; col
// proto.ColStr }`, the same for every plain type). The sink builds those
// proto columns itself, in buffers that each writer keeps from one batch to
// the next, and hands them to the batch's columns whole: no copy, no
// growth. handOver does that through reflection on the unexported field; it
// checks the field's name and type first and, when a clickhouse-go release
// changes them, reports false, and the values go through Append as before.
// TestColumnHandOver fails when the fast path is lost.

// handOver makes dst, an empty column of a prepared batch, hold src's data.
func handOver(dst column.Interface, src proto.ColInput) bool {
	d := reflect.ValueOf(dst)
	s := reflect.ValueOf(src)
	if d.Kind() != reflect.Pointer || d.Elem().Kind() != reflect.Struct || s.Kind() != reflect.Pointer {
		return false
	}
	f := d.Elem().FieldByName("col")
	if !f.IsValid() || f.Type() != s.Elem().Type() || !f.CanAddr() {
		return false
	}
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(s.Elem())
	return dst.Rows() == src.Rows()
}

// handOverArray makes dst, an empty Array(T) column of a prepared batch
// (clickhouse-go's column.Array: its element column in the field values,
// its row ends in offsets[0].values, a column.UInt64), hold src's data, as
// handOver does for plain columns. Only one level of arrays is handed over.
func handOverArray(dst column.Interface, src arrayInput) bool {
	d := reflect.ValueOf(dst)
	if d.Kind() != reflect.Pointer || d.Elem().Kind() != reflect.Struct {
		return false
	}
	values := d.Elem().FieldByName("values")
	offsets := d.Elem().FieldByName("offsets")
	if !values.IsValid() || values.Kind() != reflect.Interface || !offsets.IsValid() || offsets.Kind() != reflect.Slice || offsets.Len() != 1 {
		return false
	}
	inner, ok := reflect.NewAt(values.Type(), unsafe.Pointer(values.UnsafeAddr())).Elem().Interface().(column.Interface)
	if !ok || inner == nil {
		return false
	}
	off := offsets.Index(0)
	if off.Kind() != reflect.Pointer || off.IsNil() || off.Elem().Kind() != reflect.Struct {
		return false
	}
	offCol := off.Elem().FieldByName("values")
	if !offCol.IsValid() || !offCol.CanAddr() {
		return false
	}
	offIface, ok := reflect.NewAt(offCol.Type(), unsafe.Pointer(offCol.UnsafeAddr())).Interface().(column.Interface)
	if !ok {
		return false
	}
	data, ends := src.parts()
	if !handOver(inner, data) || !handOver(offIface, ends) {
		return false
	}
	return dst.Rows() == ends.Rows()
}

// arrayInput is a one-level Array column the sink builds: its elements,
// one row after the other, and each row's end in them (ClickHouse's
// offsets), as ch-go's proto.ColArr holds them.
type arrayInput interface {
	proto.ColInput
	parts() (data proto.ColInput, ends *proto.ColUInt64)
	values() any // [][]T, for clickhouse-go's Append
}

// arrCol is an Array(T) column: append a row's elements to Data, then
// close the row with EndRow.
type arrCol[T any, C interface {
	*E
	proto.ColumnOf[T]
}, E any] struct {
	Data E
	Ends proto.ColUInt64
}

// EndRow closes the row whose elements were appended since the last call.
func (a *arrCol[T, C, E]) EndRow() { a.Ends.Append(uint64(C(&a.Data).Rows())) }

func (a *arrCol[T, C, E]) Type() proto.ColumnType {
	return proto.ColumnTypeArray.Sub(C(&a.Data).Type())
}
func (a *arrCol[T, C, E]) Rows() int { return a.Ends.Rows() }
func (a *arrCol[T, C, E]) EncodeColumn(b *proto.Buffer) {
	a.Ends.EncodeColumn(b)
	C(&a.Data).EncodeColumn(b)
}
func (a *arrCol[T, C, E]) WriteColumn(w *proto.Writer) {
	a.Ends.WriteColumn(w)
	C(&a.Data).WriteColumn(w)
}
func (a *arrCol[T, C, E]) Reset() {
	C(&a.Data).Reset()
	a.Ends.Reset()
}
func (a *arrCol[T, C, E]) parts() (proto.ColInput, *proto.ColUInt64) { return C(&a.Data), &a.Ends }
func (a *arrCol[T, C, E]) values() any {
	// One backing array for every row's elements, not one per row.
	data := C(&a.Data)
	flat := make([]T, data.Rows())
	for k := range flat {
		flat[k] = data.Row(k)
	}
	out := make([][]T, a.Ends.Rows())
	var start uint64
	for i, end := range a.Ends {
		out[i], start = flat[start:end:end], end
	}
	return out
}

type (
	strArr   = arrCol[string, *proto.ColStr, proto.ColStr]
	int64Arr = arrCol[int64, *proto.ColInt64, proto.ColInt64]
	f64Arr   = arrCol[float64, *proto.ColFloat64, proto.ColFloat64]
)

var (
	_ arrayInput   = (*strArr)(nil)
	_ proto.Column = (*proto.ColStr)(nil)
)

// appendValues returns src's values in a type clickhouse-go's Append takes.
func appendValues(src proto.ColInput) (any, error) {
	switch c := src.(type) {
	case arrayInput:
		return c.values(), nil
	case *proto.ColStr:
		v := make([]string, 0, c.Rows())
		for _, p := range c.Pos {
			v = append(v, string(c.Buf[p.Start:p.End]))
		}
		return v, nil
	case *proto.ColDate:
		v := make([]time.Time, c.Rows())
		for i := range v {
			v[i] = c.Row(i)
		}
		return v, nil
	case *proto.ColInt64:
		return []int64(*c), nil
	case *proto.ColInt32:
		return []int32(*c), nil
	case *proto.ColUInt32:
		return []uint32(*c), nil
	case *proto.ColUInt8:
		return []uint8(*c), nil
	case *proto.ColFloat64:
		return []float64(*c), nil
	}
	return nil, fmt.Errorf("no Append form for %T", src)
}

// sendColumns runs query (an INSERT naming its columns) with cols as its
// columns, in order.
func sendColumns(ctx context.Context, conn driver.Conn, query string, cols ...proto.ColInput) error {
	batch, err := conn.PrepareBatch(ctx, query)
	if err != nil {
		return err
	}
	dst := batch.Columns()
	if len(dst) != len(cols) {
		batch.Abort()
		return &columnsError{prepared: len(dst), given: len(cols)}
	}
	for i, c := range cols {
		if a, ok := c.(arrayInput); ok && handOverArray(dst[i], a) || handOver(dst[i], c) {
			continue
		}
		v, err := appendValues(c)
		if err == nil {
			err = batch.Column(i).Append(v)
		}
		if err != nil {
			batch.Abort()
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return batch.Send()
}

// dayOf is the UTC date of an epoch-milliseconds time, as a Date column
// holds it.
func dayOf(ms int64) proto.Date {
	const msPerDay = 24 * 60 * 60 * 1000
	d := ms / msPerDay
	if ms%msPerDay < 0 {
		d--
	}
	return proto.Date(d)
}
