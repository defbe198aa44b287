// Package generate makes realistic, deterministic attribution traffic: users
// with multi-touch journeys across the channels of the default grouping,
// clicks and impressions with costs, conversions whose probability and
// revenue depend on the channel mix, and the duplicates that producer
// retries cause. The same Config gives byte-identical events, so generated
// files and topics can be regenerated instead of stored.
//
// Events come out in timestamp order across all users, except the re-sent
// duplicates: a copy is emitted 0.2 to 5 s after the original's timestamp,
// with the original's bytes, as a producer retry would.
package generate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Kind tells touchpoints, conversions and identity events apart.
type Kind uint8

// Kinds of events.
const (
	Touchpoint Kind = iota + 1
	Conversion
	Identity // made only with Config.LoggedOutShare > 0
)

func (k Kind) String() string {
	switch k {
	case Touchpoint:
		return "touchpoint"
	case Conversion:
		return "conversion"
	case Identity:
		return "identity"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Sink receives the events in stream order: key is the event's own
// attribution key (user_id, else anonymous_id; the user_id of an identity
// event), value the event's JSON without a newline.
// value is reused after Sink returns: a sink that keeps it must copy it.
// An error stops the emission.
type Sink func(kind Kind, key string, value []byte) error

// Shape of the traffic. The rates are per user or per event, as named.
const (
	anonymousShare    = 0.15 // users known only by an anonymous_id
	anonIDOnEvent     = 0.5  // events of known users that also carry their anonymous_id
	omitChannelShare  = 0.30 // touchpoints without "channel": derived from source/medium
	repeatChannel     = 0.30 // a later touchpoint on the same channel as the previous one
	duplicateShare    = 0.01 // events re-emitted identically, 0.2–5 s later
	secondPurchase    = 0.15 // converters who buy again
	signupShare       = 0.10 // first conversions that are sign-ups without revenue
	conversionScale   = 0.35 // p(convert) = 1 - exp(-scale × Σ propensity)
	impressionWeight  = 0.15 // an impression's share of its channel's propensity
	maxTouchpoints    = 10
	touchpointsP      = 0.38             // 1 + geometric(p) touchpoints, capped
	gapMedian         = 45 * time.Minute // between touchpoints (lognormal)
	gapSigma          = 1.8
	convDelayMedian   = 6 * time.Minute // from the last touchpoint to the conversion
	convDelaySigma    = 1.0
	basketMedian      = 55.0 // revenue median, shifted by the channel mix
	basketSigma       = 0.75
	fitShare          = 0.98 // a journey longer than the traffic is squeezed into this share of it
	currency          = "EUR"
	minRevenueMicros  = 1_000_000
	maxDuplicateDelay = 5000 // ms
)

// event is a generated event, compact until it is encoded.
type event struct {
	emitMs   int64 // stream position: the time it is emitted
	timeMs   int64 // its timestamp
	amount   int64 // cost or revenue in micros; 0: none
	seq      uint32
	user     uint32
	id       [16]byte
	kind     Kind
	channel  uint8
	place    uint8
	campaign uint8 // index+1 into the placement's campaigns; 0: none
	flags    uint8
}

const (
	flagImpression = 1 << iota
	flagChannel    // "channel" is present
	flagAnonID     // "anonymous_id" is present (always for anonymous users)
	flagSignup     // a sign-up conversion
	flagLeadIn     // the impression that the next event, a click, follows
	flagLoggedOut  // the user is not logged in yet: "user_id" is absent
)

// maxLeadInMs bounds the time from the impression a click follows to the
// click.
const (
	maxLeadInMs = 30_000
	dayMs       = 24 * 3600 * 1000
)

type genUser struct {
	userID, anonID string
}

// Traffic is a generated set of events, held in stream order.
type Traffic struct {
	cfg         Config
	users       []genUser
	events      []event
	touchpoints int
	conversions int
	identities  int
	duplicates  int
}

// New generates the traffic of cfg (defaults applied): about 100 bytes of
// memory per event until it is dropped.
func New(cfg Config) (*Traffic, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Traffic{cfg: cfg}
	startMs, spanMs := cfg.Start.UnixMilli(), cfg.Duration.Milliseconds()
	if cfg.Events > 0 {
		t.events = make([]event, 0, cfg.Events+64)
	} else {
		t.events = make([]event, 0, cfg.Users*3)
	}
	for i := 0; cfg.Events > 0 && len(t.events) < cfg.Events || cfg.Events == 0 && i < cfg.Users; i++ {
		rng := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(i)))
		t.journey(rng, uint32(i), startMs, spanMs)
	}
	for i := range t.events {
		t.events[i].seq = uint32(i)
	}
	slices.SortFunc(t.events, func(a, b event) int {
		if a.emitMs != b.emitMs {
			if a.emitMs < b.emitMs {
				return -1
			}
			return 1
		}
		return int(a.seq) - int(b.seq)
	})
	return t, nil
}

// Generate makes the traffic of cfg and emits it to sink.
func Generate(cfg Config, sink Sink) error {
	t, err := New(cfg)
	if err != nil {
		return err
	}
	return t.Emit(sink)
}

// Users returns the number of users.
func (t *Traffic) Users() int { return len(t.users) }

// Len returns the number of events, duplicates included.
func (t *Traffic) Len() int { return len(t.events) }

// Count returns the number of events of a kind, duplicates included.
func (t *Traffic) Count(k Kind) int {
	switch k {
	case Conversion:
		return t.conversions
	case Identity:
		return t.identities
	}
	return t.touchpoints
}

// Duplicates returns the number of re-emitted events.
func (t *Traffic) Duplicates() int { return t.duplicates }

// journey generates the events of user i.
func (t *Traffic) journey(rng *rand.Rand, i uint32, startMs, spanMs int64) {
	u := genUser{anonID: "anon-" + hexString(rng.Uint64(), 12)}
	if rng.Float64() >= anonymousShare {
		u.userID = fmt.Sprintf("u%07d", i+1)
	}
	t.users = append(t.users, u)

	// The times are offsets from the journey's start, laid out first and
	// fitted into the traffic's span afterwards.
	first := len(t.events)
	n := 1 + min(maxTouchpoints-1, geometric(rng, touchpointsP))
	var at int64
	prev := -1
	score, basket := 0.0, 0.0
	for k := 0; k < n; k++ {
		if k > 0 {
			at += lognormalMs(rng, gapMedian, gapSigma)
		}
		c := t.touchpoint(rng, i, at, prev, u)
		prev = int(t.events[len(t.events)-1].channel)
		w := c.propensity
		if t.events[len(t.events)-1].flags&flagImpression != 0 {
			w *= impressionWeight
		}
		score += w
		basket += c.basket
	}
	if rng.Float64() < 1-math.Exp(-conversionScale*score) {
		at += lognormalMs(rng, convDelayMedian, convDelaySigma)
		signup := rng.Float64() < signupShare
		t.conversion(rng, i, at, signup, basket/float64(n), u)
		if rng.Float64() < secondPurchase {
			for k := rng.IntN(4); k > 0; k-- {
				at += lognormalMs(rng, 2*time.Hour, 1.2)
				c := t.touchpoint(rng, i, at, prev, u)
				prev = int(t.events[len(t.events)-1].channel)
				basket += c.basket
				n++
			}
			at += lognormalMs(rng, convDelayMedian, convDelaySigma)
			t.conversion(rng, i, at, false, basket/float64(n), u)
		}
	}

	// Fit the journey into [start, start+span]: squeeze one that is too
	// long, then place it uniformly.
	total := at
	limit := int64(float64(spanMs) * fitShare)
	evs := t.events[first:]
	if total > limit {
		for k := range evs {
			evs[k].timeMs = int64(float64(evs[k].timeMs) * float64(limit) / float64(total))
		}
		total = evs[len(evs)-1].timeMs
	}
	base := startMs + rng.Int64N(spanMs-total+1)
	for k := range evs {
		evs[k].timeMs += base
	}
	// A click's impression stays on the click's UTC day (and in the
	// traffic), so that a day's clicks never outnumber its impressions.
	for k := range evs {
		if evs[k].flags&flagLeadIn != 0 {
			click := evs[k+1].timeMs
			floor := max(startMs, click-click%dayMs)
			evs[k].timeMs = min(click, max(evs[k].timeMs, floor))
		}
		evs[k].emitMs = evs[k].timeMs
	}
	if t.cfg.LoggedOutShare > 0 {
		t.logIn(i, first, startMs, spanMs)
	}
	// Producer retries: the same event, emitted again a little later.
	for k, last := first, len(t.events); k < last; k++ {
		if rng.Float64() < duplicateShare {
			d := t.events[k]
			d.emitMs += 200 + rng.Int64N(maxDuplicateDelay-200)
			t.events = append(t.events, d)
			t.duplicates++
			switch d.kind {
			case Conversion:
				t.conversions++
			case Identity:
				t.identities++
			default:
				t.touchpoints++
			}
		}
	}
}

func (t *Traffic) touchpoint(rng *rand.Rand, user uint32, at int64, prev int, u genUser) *channel {
	ci := prev
	if prev < 0 {
		ci = weighted(rng.Float64(), len(channels), func(i int) float64 { return channels[i].acquire })
	} else if rng.Float64() >= repeatChannel {
		ci = weighted(rng.Float64(), len(channels), func(i int) float64 { return channels[i].revisit })
	}
	c := &channels[ci]
	pi := weighted(rng.Float64(), len(c.placements), func(i int) float64 { return c.placements[i].weight })
	p := &c.placements[pi]
	e := event{kind: Touchpoint, user: user, timeMs: at, channel: uint8(ci), place: uint8(pi), id: uuid(rng)}
	if len(p.campaigns) > 0 {
		e.campaign = uint8(1 + rng.IntN(len(p.campaigns)))
	}
	if rng.Float64() < p.impressions {
		e.flags |= flagImpression
		if p.cpm {
			e.amount = impressionCost(rng)
		}
	} else {
		if p.impressions > 0 {
			// Where the channel serves impressions, a click follows one:
			// the ad was shown, then clicked (CTR <= 100%).
			imp := event{kind: Touchpoint, user: user, timeMs: at - 1 - rng.Int64N(maxLeadInMs), channel: e.channel, place: e.place,
				campaign: e.campaign, flags: flagImpression | flagLeadIn, id: uuid(rng)}
			if p.cpm {
				imp.amount = impressionCost(rng)
			}
			if rng.Float64() >= omitChannelShare {
				imp.flags |= flagChannel
			}
			t.idFlags(rng, &imp, u)
			t.events = append(t.events, imp)
			t.touchpoints++
		}
		if p.cpc > 0 {
			e.amount = (20 + rng.Int64N(int64(p.cpc*100)-20+1)) * 10_000 // whole cents
		}
	}
	if rng.Float64() >= omitChannelShare {
		e.flags |= flagChannel
	}
	t.idFlags(rng, &e, u)
	t.events = append(t.events, e)
	t.touchpoints++
	return c
}

// impressionCost is the price of a bought impression: 0.002–0.010, in micros.
func impressionCost(rng *rand.Rand) int64 { return 2000 + rng.Int64N(8001) }

func (t *Traffic) conversion(rng *rand.Rand, user uint32, at int64, signup bool, basket float64, u genUser) {
	e := event{kind: Conversion, user: user, timeMs: at, id: uuid(rng)}
	if signup {
		e.flags |= flagSignup
	} else {
		v := math.Exp(math.Log(basketMedian) + basket + basketSigma*rng.NormFloat64())
		e.amount = max(minRevenueMicros, int64(math.Round(v*100))*10_000)
	}
	t.idFlags(rng, &e, u)
	t.events = append(t.events, e)
	t.conversions++
}

func (t *Traffic) idFlags(rng *rand.Rand, e *event, u genUser) {
	if u.userID == "" || rng.Float64() < anonIDOnEvent {
		e.flags |= flagAnonID
	}
}

// geometric returns the number of failures before the first success.
func geometric(rng *rand.Rand, p float64) int {
	return int(math.Floor(math.Log(1-rng.Float64()) / math.Log(1-p)))
}

// lognormalMs draws a duration with the given median, in milliseconds (>= 1).
func lognormalMs(rng *rand.Rand, median time.Duration, sigma float64) int64 {
	v := float64(median.Milliseconds()) * math.Exp(sigma*rng.NormFloat64())
	return max(1, int64(v))
}

func uuid(rng *rand.Rand) [16]byte {
	var b [16]byte
	hi, lo := rng.Uint64(), rng.Uint64()
	for k := 0; k < 8; k++ {
		b[k], b[8+k] = byte(hi>>(56-8*k)), byte(lo>>(56-8*k))
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return b
}

func hexString(v uint64, digits int) string {
	b := make([]byte, digits)
	for k := digits - 1; k >= 0; k-- {
		b[k] = hexDigits[v&0xf]
		v >>= 4
	}
	return string(b)
}

const hexDigits = "0123456789abcdef"
