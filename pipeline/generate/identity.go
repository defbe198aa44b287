package generate

import (
	"math/rand/v2"
	"time"
)

// Shape of the logged-out traffic (Config.LoggedOutShare > 0).
const (
	loginAfterAll     = 0.25            // logged-out users who log in only after their last event (a guest checkout, an account made later)
	lateIdentityShare = 0.30            // identity events delivered late: hours, sometimes days, after the login
	lateMedian        = 3 * time.Hour   // their delay (lognormal)
	lateSigma         = 1.3             // about one in six is a day late or more
	maxLateDelay      = 3 * 24 * 3600e3 // ms
	sharedDevice      = 0.05            // logged-out users on the device of an earlier user: a conflict when both log in
	backendConversion = 0.5             // conversions of a logged-in user sent by the backend: user_id only
	stitchStream      = 0x5717c4        // salt of the random stream of these choices
)

// logIn turns the journey of user i (its events from t.events[first:],
// timed) into one that starts logged out, with a share
// cfg.LoggedOutShare: the events before the login carry the device's
// anonymous_id alone, the login is an identity event, and the conversions
// after it come from the backend or the device. Its choices come from a
// random stream of their own, so that the journeys are those of the
// traffic without logged-out users.
func (t *Traffic) logIn(i uint32, first int, startMs, spanMs int64) {
	u := &t.users[i]
	rng := rand.New(rand.NewPCG(uint64(t.cfg.Seed)^stitchStream, uint64(i)))
	if u.userID == "" || rng.Float64() >= t.cfg.LoggedOutShare {
		return
	}
	if i > 0 && rng.Float64() < sharedDevice {
		// A device a recent user used too.
		u.anonID = t.users[int(i)-1-rng.IntN(min(int(i), 1000))].anonID
	}
	evs := t.events[first:]
	var loginMs int64
	if rng.Float64() < loginAfterAll {
		loginMs = evs[len(evs)-1].timeMs + lognormalMs(rng, 30*time.Minute, 1.0)
	} else {
		// Log in just before one of the events after the first.
		k := 1 + rng.IntN(max(1, len(evs)-1))
		if k >= len(evs) {
			k = len(evs) - 1
		}
		loginMs = evs[k].timeMs - 1 - rng.Int64N(60_000)
	}
	loginMs = max(min(loginMs, startMs+spanMs), evs[0].timeMs+1)
	for k := range evs {
		e := &evs[k]
		switch {
		case e.timeMs < loginMs:
			e.flags |= flagLoggedOut | flagAnonID
		case e.kind == Conversion && rng.Float64() < backendConversion:
			e.flags &^= flagAnonID
		case e.kind == Conversion:
			e.flags |= flagAnonID
		}
	}
	id := event{kind: Identity, user: i, timeMs: loginMs, emitMs: loginMs, id: uuid(rng)}
	if rng.Float64() < lateIdentityShare {
		id.emitMs += min(maxLateDelay, lognormalMs(rng, lateMedian, lateSigma))
	}
	t.events = append(t.events, id)
	t.identities++
}
