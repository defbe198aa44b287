package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Decoding is half of a replay's work, and pure: each input is read and
// decoded ahead by its own goroutine, in batches through a bounded channel,
// while the merge, attribution and encoding run on the caller's.
const (
	batchLen     = 256 // events per batch
	batchesAhead = 8   // batches decoded ahead per input
)

// item is one non-blank line of an input: an event, or why it is invalid.
type item[T any] struct {
	ev    T
	line  int
	err   error // the line is invalid
	fatal bool  // err is a read error: the input ends here
}

// source delivers the events of one input in order, reporting and counting
// its invalid lines.
type source[T any] struct {
	name    string
	batches chan []item[T]
	free    chan []item[T]
	cur     []item[T]
	pos     int
	diag    io.Writer
	max     int    // invalid lines to print
	invalid *int64 // counter in Stats
	future  *int64 // counter in Stats: events beyond the future skew
}

// startSource starts reading and decoding in, in a goroutine of wg that
// stops at the end of the input or of ctx.
func startSource[T any](ctx context.Context, wg *sync.WaitGroup, in Input, decode func([]byte) (T, error), diag io.Writer, max int, invalid, future *int64) *source[T] {
	s := &source[T]{
		name:    in.Name,
		batches: make(chan []item[T], batchesAhead),
		free:    make(chan []item[T], batchesAhead+2),
		diag:    diag,
		max:     max,
		invalid: invalid,
		future:  future,
	}
	wg.Go(func() { s.read(ctx, newLineReader(in.R, MaxLineBytes), decode) })
	return s
}

func (s *source[T]) read(ctx context.Context, lr *lineReader, decode func([]byte) (T, error)) {
	defer close(s.batches)
	batch := make([]item[T], 0, batchLen)
	send := func() bool {
		select {
		case s.batches <- batch:
		case <-ctx.Done():
			return false
		}
		select {
		case batch = <-s.free:
		default:
			batch = make([]item[T], 0, batchLen)
		}
		return true
	}
	for {
		line, err := lr.next()
		switch {
		case err == nil:
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			ev, err := decode(line)
			batch = append(batch, item[T]{ev: ev, line: lr.line, err: err})
		case errors.Is(err, io.EOF):
			if len(batch) > 0 {
				send()
			}
			return
		case errors.Is(err, errLineTooLong):
			batch = append(batch, item[T]{line: lr.line, err: err})
		default:
			batch = append(batch, item[T]{line: lr.line, err: fmt.Errorf("read %s: %w", s.name, err), fatal: true})
			send()
			return
		}
		if len(batch) == cap(batch) && !send() {
			return
		}
	}
}

// next returns the next valid event, or ok false at the end of the input.
func (s *source[T]) next() (ev T, ok bool, err error) {
	for {
		if s.pos == len(s.cur) {
			if s.cur != nil {
				clear(s.cur)
				select {
				case s.free <- s.cur[:0]:
				default:
				}
			}
			batch, open := <-s.batches
			if !open {
				s.cur = nil
				return ev, false, nil
			}
			s.cur, s.pos = batch, 0
		}
		it := &s.cur[s.pos]
		s.pos++
		switch {
		case it.fatal:
			return ev, false, it.err
		case it.err != nil:
			s.reject(it.line, it.err)
		default:
			return it.ev, true, nil
		}
	}
}

func (s *source[T]) reject(line int, err error) {
	var fe *futureError
	if errors.As(err, &fe) {
		*s.future++
		switch {
		case *s.future <= int64(s.max):
			fmt.Fprintf(s.diag, "%s:%d: %v\n", s.name, line, err)
		case *s.future == int64(s.max)+1:
			fmt.Fprintf(s.diag, "%s: more than %d events in the future; counting the rest without printing them\n", s.name, s.max)
		}
		return
	}
	*s.invalid++
	switch {
	case *s.invalid <= int64(s.max):
		fmt.Fprintf(s.diag, "%s:%d: %v\n", s.name, line, err)
	case *s.invalid == int64(s.max)+1:
		fmt.Fprintf(s.diag, "%s: more than %d invalid lines; counting the rest without printing them\n", s.name, s.max)
	}
}
