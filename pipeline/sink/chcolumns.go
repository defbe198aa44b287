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

// appendValues returns src's values in a type clickhouse-go's Append takes.
func appendValues(src proto.ColInput) (any, error) {
	switch c := src.(type) {
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
		if handOver(dst[i], c) {
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
