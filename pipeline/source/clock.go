package source

import "time"

// clockEvery is how many messages the fetcher routes on one reading of
// the clock: it is read when a run of messages is taken from the fetch
// loop and again every clockEvery messages within it, not per message
// (docs/DESIGN.md, "Our own fetch loop"). Its time is used for marks and
// the future check, which reads the clock afresh before it dead-letters
// anything (Fetcher.future).
const clockEvery = 64

// runClock is the time a fetcher routes its messages at: the clock as it
// was last read, when the message's run was taken (a run may follow a
// long wait: the clock is read afresh) or up to clockEvery-1 messages
// before it in the run.
type runClock struct {
	clock func() time.Time // Fetcher.clock
	now   time.Time        // the clock as last read
	since int              // messages timed by that reading
}

// at returns the time of the next message routed; newRun says it is the
// first of a run (fetch.Loop.Next).
func (c *runClock) at(newRun bool) time.Time {
	if newRun || c.since >= clockEvery {
		c.now, c.since = c.clock(), 0
	}
	c.since++
	return c.now
}
