// Package replay attributes conversions read from NDJSON files of
// touchpoints and conversions, with the semantics of the streaming pipeline:
// a time-ordered merge of the two inputs, a touchpoint watermark, per-user
// journeys deduplicated by event_id, and every conversion attributed exactly
// once by attribution.Engine. Its output is the reference the pipeline's
// ClickHouse view is compared with.
//
// Semantics, in the order they apply:
//
//   - With Config.Links (identity stitching), each event's key is its
//     stitched key: its user_id, else the user its anonymous_id is linked
//     to, else its anonymous_id. LinkPass reads every link first, so that
//     a link applies to its device's events before and after it.
//   - The inputs are read as streams and merged by timestamp: the next event
//     is the head with the smaller timestamp (a touchpoint on ties).
//   - The watermark W is the largest touchpoint timestamp read so far.
//   - A touchpoint joins its user's journey, deduplicated by event_id:
//     of its copies the one with the earliest timestamp wins, the first
//     read on a tie (attribution.Journey), so the journey is the same
//     whatever order the copies come in; every copy after the first read
//     is counted as a duplicate. It is "late" when a conversion whose path
//     it belongs to was already attributed.
//   - A conversion is deduplicated by event_id per user and waits in a heap
//     ordered by (timestamp, event_id) until W >= timestamp + allowed
//     lateness, or until the touchpoints are exhausted; released conversions
//     are attributed in heap order.
//   - With ResetOnConversion, a conversion's path starts after the user's
//     latest earlier (by timestamp, event_id) attributed conversion.
//   - Every PruneEvery events, state older than the horizon W - allowed
//     lateness - lookback is dropped: touchpoints, remembered conversion ids
//     and users left with nothing. A conversion older than the horizon when
//     it arrives is counted as late and attributed with what is held.
package replay

import (
	"context"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/schemas"
)

// Input is one NDJSON stream of events.
type Input struct {
	Name string // names the stream in diagnostics: "touchpoints.ndjson:12: timestamp: required"
	R    io.Reader
}

// Run replays the touchpoints and conversions and writes the credited rows
// to sink, in release order. Invalid lines are reported on diag (the first
// cfg.MaxErrorsShown per input) and counted; they never stop the run. Run
// returns an error only for an invalid Config, a read error, a sink error or
// the end of ctx, with the Stats so far. The inputs are read ahead by
// goroutines of Run's own, which have stopped when it returns.
func Run(ctx context.Context, cfg Config, touchpoints, conversions Input, sink RowSink, diag io.Writer) (Stats, error) {
	r, err := newReplayer(cfg, sink)
	if err != nil {
		return Stats{}, err
	}
	return r.replay(ctx, touchpoints, conversions, diag)
}

func newReplayer(cfg Config, sink RowSink) (*replayer, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	eng, err := attribution.NewEngine(cfg.Attribution)
	if err != nil {
		return nil, err
	}
	if err := eng.SetFits(cfg.Fits); err != nil {
		return nil, err
	}
	r := &replayer{
		cfg:        cfg,
		eng:        eng,
		dec:        schemas.NewDecoder(cfg.ChannelRules),
		sink:       sink,
		users:      make(map[string]*user),
		oldest:     math.MaxInt64,
		strings:    make(interner),
		latenessMs: cfg.AllowedLateness.Milliseconds(),
		lookbackMs: eng.LookbackMs(),
	}
	for i, m := range eng.Models() {
		r.names = append(r.names, m.Name())
		r.fitIDs = append(r.fitIDs, eng.FitID(i))
	}
	return r, nil
}

func (r *replayer) replay(ctx context.Context, touchpoints, conversions Input, diag io.Writer) (Stats, error) {
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	var readers sync.WaitGroup
	decodeTP, decodeCV := r.cfg.decoders(r.dec)
	tps := startSource(ctx, &readers, touchpoints, decodeTP, diag, r.cfg.MaxErrorsShown, &r.stats.InvalidTouchpoints, &r.stats.FutureTouchpoints)
	cvs := startSource(ctx, &readers, conversions, decodeCV, diag, r.cfg.MaxErrorsShown, &r.stats.InvalidConversions, &r.stats.FutureConversions)
	err := r.run(ctx, tps, cvs)
	cancel() // stops the readers when the replay ended early
	readers.Wait()
	r.stats.Elapsed = time.Since(start)
	return r.stats, err
}

// decoders returns dec's touchpoint and conversion decoders, which also
// reject an event stamped beyond MaxFutureSkew after AsOf (futureError):
// every pass over the inputs (links, fits, the replay) leaves out the same
// events.
func (c Config) decoders(dec *schemas.Decoder) (func([]byte) (schemas.Touchpoint, error), func([]byte) (schemas.Conversion, error)) {
	future := c.futureCheck()
	decodeTP := func(b []byte) (schemas.Touchpoint, error) {
		tp, err := dec.Touchpoint(b)
		if err == nil {
			err = future(tp.TimeMs)
		}
		return tp, err
	}
	decodeCV := func(b []byte) (schemas.Conversion, error) {
		cv, err := dec.Conversion(b)
		if err == nil {
			err = future(cv.TimeMs)
		}
		return cv, err
	}
	return decodeTP, decodeCV
}

// futureCheck returns the check of an event time against AsOf and
// MaxFutureSkew: nil, or the futureError that leaves the event out.
func (c Config) futureCheck() func(timeMs int64) error {
	limitMs := c.AsOf.Add(c.MaxFutureSkew).UnixMilli()
	return func(timeMs int64) error {
		if timeMs <= limitMs {
			return nil
		}
		return &futureError{timeMs: timeMs, asOf: c.AsOf, skew: c.MaxFutureSkew}
	}
}

// futureError rejects an event stamped beyond MaxFutureSkew after AsOf.
// Left in, it would move the watermark (and the merge) to its time: every
// conversion read after it would be released before its touchpoints, and
// the prune would drop every user's state.
type futureError struct {
	timeMs int64
	asOf   time.Time
	skew   time.Duration
}

func (e *futureError) Error() string {
	return fmt.Sprintf("timestamp: %s is more than max_future_skew %s after %s (as of): left out",
		time.UnixMilli(e.timeMs).UTC().Format(time.RFC3339Nano), e.skew, e.asOf.UTC().Format(time.RFC3339))
}

type replayer struct {
	cfg    Config
	eng    *attribution.Engine
	names  []string // model names, indexed by attribution.Credit.Model
	fitIDs []string // per model, the id of the fit it applies ("" for none)
	dec    *schemas.Decoder
	sink   RowSink

	users     map[string]*user
	peakUsers int
	pending   convHeap

	watermark    int64 // W: the largest touchpoint timestamp read
	hasWatermark bool
	oldest       int64 // no state held is older than this: prune has nothing to do before the horizon passes it
	tpDone       bool  // the touchpoints are exhausted: nothing waits any more

	latenessMs, lookbackMs int64

	strings interner // channel, source, medium, campaign: few values, held in every journey

	res   attribution.Result
	row   schemas.CreditedRow
	stats Stats
}

// interner shares one copy of each of the first maxInterned distinct
// strings, so that a million held touchpoints do not hold a million copies
// of "paid_search".
type interner map[string]string

const maxInterned = 1 << 16

func (in interner) intern(s string) string {
	if v, ok := in[s]; ok {
		return v
	}
	if len(in) < maxInterned {
		in[s] = s
	}
	return s
}

// user is the state of one attribution key.
type user struct {
	key     string
	journey attribution.Journey
	convs   []convRecord // conversions seen, pending or released, newer than the horizon
}

type convRecord struct {
	id       string
	timeMs   int64
	released bool
	after    int64 // the reset bound it was attributed with, or attribution.NoReset
}

func (r *replayer) run(ctx context.Context, tps *source[schemas.Touchpoint], cvs *source[schemas.Conversion]) error {
	tp, tpOK, err := tps.next()
	if err != nil {
		return err
	}
	cv, cvOK, err := cvs.next()
	if err != nil {
		return err
	}
	r.tpDone = !tpOK
	var events int
	for tpOK || cvOK {
		if tpOK && (!cvOK || tp.TimeMs <= cv.TimeMs) {
			r.touchpoint(&tp)
			if tp, tpOK, err = tps.next(); err != nil {
				return err
			}
			r.tpDone = !tpOK
		} else {
			r.conversion(&cv)
			if cv, cvOK, err = cvs.next(); err != nil {
				return err
			}
		}
		if err := r.releaseReady(); err != nil {
			return err
		}
		events++
		if events%r.cfg.PruneEvery == 0 {
			r.prune()
		}
		if events%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	r.tpDone = true
	return r.releaseReady()
}

// key is the attribution key of an event: its stitched key.
func (r *replayer) key(userID, anonID string) string {
	k := r.cfg.Links.Key(userID, anonID)
	if userID == "" && k != anonID {
		r.stats.Stitched++
	}
	return k
}

// horizon is the time before which no state is needed any more.
func (r *replayer) horizon() int64 { return r.watermark - r.latenessMs - r.lookbackMs }

func (r *replayer) user(key string) *user {
	u := r.users[key]
	if u == nil {
		u = &user{key: key}
		r.users[key] = u
		r.peakUsers = max(r.peakUsers, len(r.users))
	}
	return u
}

func (r *replayer) touchpoint(in *schemas.Touchpoint) {
	r.stats.Touchpoints++
	if !r.hasWatermark || in.TimeMs > r.watermark {
		r.watermark, r.hasWatermark = in.TimeMs, true
	}
	u := r.user(r.key(in.UserID, in.AnonymousID))
	tp := attribution.Touchpoint{
		ID:         in.EventID,
		TimeMs:     in.TimeMs,
		Impression: in.Interaction == schemas.InteractionImpression,
		Channel:    r.strings.intern(in.Channel),
		Source:     r.strings.intern(in.Source),
		Medium:     r.strings.intern(in.Medium),
		Campaign:   r.strings.intern(in.Campaign),
	}
	late := r.belongsToReleased(u, &tp)
	if !u.journey.Add(tp) {
		r.stats.DuplicateTouchpoints++
		return
	}
	r.oldest = min(r.oldest, tp.TimeMs)
	if late {
		r.stats.LateTouchpoints++
	}
}

// belongsToReleased reports whether tp is on the path of a conversion of u
// that was already attributed.
func (r *replayer) belongsToReleased(u *user, tp *attribution.Touchpoint) bool {
	for i := range u.convs {
		c := &u.convs[i]
		if c.released && r.eng.Window(tp, c.timeMs) && (c.after == attribution.NoReset || tp.TimeMs > c.after) {
			return true
		}
	}
	return false
}

func (r *replayer) conversion(cv *schemas.Conversion) {
	r.stats.Conversions++
	u := r.user(r.key(cv.UserID, cv.AnonymousID))
	for i := range u.convs {
		if u.convs[i].id == cv.EventID {
			r.stats.DuplicateConversions++
			return
		}
	}
	if r.hasWatermark && cv.TimeMs < r.horizon() {
		r.stats.LateConversions++
	}
	u.convs = append(u.convs, convRecord{id: cv.EventID, timeMs: cv.TimeMs, after: attribution.NoReset})
	r.oldest = min(r.oldest, cv.TimeMs)
	r.pending.push(pendingConv{conv: *cv, user: u})
}

// releaseReady attributes, in heap order, the pending conversions that the
// watermark has passed by the allowed lateness.
func (r *replayer) releaseReady() error {
	for len(r.pending) > 0 {
		top := &r.pending[0].conv
		if !r.tpDone && !(r.hasWatermark && r.watermark >= top.TimeMs+r.latenessMs) {
			return nil
		}
		if err := r.attribute(r.pending.pop()); err != nil {
			return err
		}
	}
	return nil
}

func (r *replayer) attribute(p pendingConv) error {
	u, cv := p.user, &p.conv
	after := int64(attribution.NoReset)
	if r.cfg.Attribution.ResetOnConversion {
		after = previousConversion(u, cv)
	}
	conv := attribution.Conversion{ID: cv.EventID, TimeMs: cv.TimeMs, RevenueMicros: cv.RevenueMicros}
	r.eng.Attribute(conv, u.journey.Touchpoints(), after, &r.res)
	for i := range u.convs {
		if u.convs[i].id == cv.EventID {
			u.convs[i].released, u.convs[i].after = true, after
			break
		}
	}
	r.stats.Attributed++
	if len(r.res.Path) == 0 {
		r.stats.Unattributed++
	}
	if r.res.Capped {
		r.stats.CappedPaths++
	}
	return CreditRows(&r.row, r.names, r.fitIDs, cv, u.key, &r.res, func(row *schemas.CreditedRow) error {
		r.stats.Rows++
		return r.sink.WriteRow(row)
	})
}

// previousConversion is the reset bound of cv: the time of u's latest
// attributed conversion before it in (timestamp, event_id) order, or
// attribution.NoReset. In time-ordered input that is the last conversion
// released; a late conversion still gets the one before it in time.
func previousConversion(u *user, cv *schemas.Conversion) int64 {
	after := int64(attribution.NoReset)
	for i := range u.convs {
		c := &u.convs[i]
		if !c.released || c.timeMs > cv.TimeMs || (c.timeMs == cv.TimeMs && c.id >= cv.EventID) {
			continue
		}
		after = max(after, c.timeMs)
	}
	return after
}

// CreditRows turns the result of attributing cv (of the user userKey) into
// credited rows, calling emit for each with row, which it overwrites: the
// row layout shared by replay and the streaming pipeline. models are the
// engine's model names, indexed by attribution.Credit.Model, and fitIDs
// (nil, or one per model) the ids of the fits they apply.
func CreditRows(row *schemas.CreditedRow, models, fitIDs []string, cv *schemas.Conversion, userKey string, res *attribution.Result, emit func(*schemas.CreditedRow) error) error {
	*row = schemas.CreditedRow{
		ConversionID:     cv.EventID,
		ConversionType:   cv.ConversionType,
		UserKey:          userKey,
		Currency:         cv.Currency,
		ConversionTimeMs: cv.TimeMs,
	}
	for _, c := range res.Credits {
		row.Model, row.Credit, row.RevenueMicros, row.Position = models[c.Model], c.Fraction, c.RevenueMicros, c.Position
		row.FitID = ""
		if fitIDs != nil {
			row.FitID = fitIDs[c.Model]
		}
		if c.Position == 0 {
			row.TouchpointID, row.Channel, row.Source, row.Medium, row.Campaign, row.Interaction = "", schemas.ChannelNone, "", "", "", ""
			row.TouchpointTimeMs, row.PathLength = 0, 0
		} else {
			tp := &res.Path[c.Position-1]
			row.TouchpointID, row.Channel, row.Source, row.Medium, row.Campaign = tp.ID, tp.Channel, tp.Source, tp.Medium, tp.Campaign
			row.Interaction = schemas.InteractionClick
			if tp.Impression {
				row.Interaction = schemas.InteractionImpression
			}
			row.TouchpointTimeMs, row.PathLength = tp.TimeMs, len(res.Path)
		}
		if err := emit(row); err != nil {
			return err
		}
	}
	return nil
}

// prune drops the state older than the horizon, and users left empty.
func (r *replayer) prune() {
	if !r.hasWatermark {
		return
	}
	h := r.horizon()
	if h <= r.oldest {
		return // nothing has expired: skip the walk over every user
	}
	r.oldest = math.MaxInt64
	for key, u := range r.users {
		u.journey.Prune(h)
		kept := u.convs[:0]
		for _, c := range u.convs {
			if c.timeMs >= h {
				kept = append(kept, c)
				r.oldest = min(r.oldest, c.timeMs)
			}
		}
		clear(u.convs[len(kept):])
		u.convs = kept
		if u.journey.Len() == 0 && len(u.convs) == 0 {
			delete(r.users, key)
			continue
		}
		if tps := u.journey.Touchpoints(); len(tps) > 0 {
			r.oldest = min(r.oldest, tps[0].TimeMs)
		}
	}
	// A Go map keeps the buckets of its largest size: rebuild it once most
	// users are gone, so that memory follows the live windows.
	if r.peakUsers > 1024 && len(r.users) < r.peakUsers/4 {
		m := make(map[string]*user, len(r.users))
		for k, u := range r.users {
			m[k] = u
		}
		r.users, r.peakUsers = m, len(m)
	}
}
