package generate

import (
	"context"
	"fmt"
	"time"
)

// LiveTick is how often EmitLive hands the events that are due to the sink
// and flushes: the longest an event waits in a producer's queue.
const LiveTick = 5 * time.Millisecond

// EmitLive emits the events in stream order at rate events per second, each
// stamped with the wall clock (in milliseconds) when it is emitted instead
// of its generated time: live traffic, for measuring latency, in which the
// generated times only decide the order. A re-sent duplicate is stamped
// anew, so it keeps its original's event_id but not its timestamp.
//
// Every LiveTick the events that are due go to sink, then flush (when not
// nil) is called, so that none waits in a producer's queue. When a flush
// takes longer than a tick, the next tick emits more: the rate holds on
// average. EmitLive returns when every event is emitted, with the first
// error of sink or flush, or with ctx's error.
func (t *Traffic) EmitLive(ctx context.Context, rate float64, sink Sink, flush func() error) error {
	if !(rate > 0) {
		return fmt.Errorf("rate: must be > 0, got %v", rate)
	}
	tick := time.NewTicker(LiveTick)
	defer tick.Stop()
	buf := make([]byte, 0, 512)
	start := time.Now()
	next := 0
	for {
		due := min(len(t.events), int(time.Since(start).Seconds()*rate)+1)
		now := time.Now().UnixMilli()
		for ; next < due; next++ {
			e := t.events[next] // a copy: the traffic keeps its times
			e.timeMs = now
			u := &t.users[e.user]
			buf = t.appendEvent(buf[:0], &e, u)
			if err := sink(e.kind, u.key(&e), buf); err != nil {
				return err
			}
		}
		if flush != nil {
			if err := flush(); err != nil {
				return err
			}
		}
		if next == len(t.events) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// key is the attribution key of u's event e as its producer knows it:
// user_id, else (the user not logged in yet) anonymous_id.
func (u *genUser) key(e *event) string {
	if u.userID != "" && e.flags&flagLoggedOut == 0 {
		return u.userID
	}
	return u.anonID
}
