package generate

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/attributor/attributor/schemas"
	"github.com/attributor/attributor/stitch"
)

// Without logged-out traffic the events are those generated before
// identity stitching, byte for byte (the digest of the release before it).
func TestNoLoggedOutTrafficIsUnchanged(t *testing.T) {
	d := digest(t, Config{Seed: 1, Users: 3000})
	if got := hex.EncodeToString(d[:]); got != "d8c7cdccebf366b4af86415737c8c816f88b27f91950149ad2296e902789a90b" {
		t.Errorf("digest %s: the traffic without --logged-out-share changed", got)
	}
	_, tr := collect(t, Config{Seed: 1, Users: 3000})
	if tr.Count(Identity) != 0 {
		t.Errorf("%d identity events without logged-out traffic", tr.Count(Identity))
	}
}

// The shape of logged-out traffic: devices whose events up to the login
// carry the anonymous_id alone, logins as identity events (some delivered
// hours or days late), shared devices (conflicts), conversions from the
// backend and from the device.
func TestLoggedOutTraffic(t *testing.T) {
	const share = 0.4
	cfg := Config{Seed: 3, Users: 6000, LoggedOutShare: share}
	events, tr := collect(t, cfg)
	dec := schemas.NewDecoder(nil)
	links := stitch.NewTable()
	logins := map[string]int64{} // user → login time, from its identity events
	var loggedOut, backend, device, late, dayLate, lastEmitted int64
	type idAt struct {
		id string
		ms int64
	}
	var anonOnly []idAt
	var userEvents []idAt // user_id and time of the events that carry one
	for _, e := range events {
		switch e.kind {
		case Identity:
			id, err := dec.Identity([]byte(e.value))
			if err != nil {
				t.Fatalf("%s: %v", e.value, err)
			}
			if e.key != id.UserID {
				t.Errorf("identity keyed %q, want its user_id %q", e.key, id.UserID)
			}
			links.Add(id.Link())
			if prev, ok := logins[id.UserID]; !ok || id.TimeMs < prev {
				logins[id.UserID] = id.TimeMs
			}
			if e.key == "" {
				t.Error("identity event without a key")
			}
		case Touchpoint:
			tp, err := dec.Touchpoint([]byte(e.value))
			if err != nil {
				t.Fatalf("%s: %v", e.value, err)
			}
			if tp.Key() != e.key {
				t.Errorf("touchpoint keyed %q, want %q", e.key, tp.Key())
			}
			if l, ok := tp.Link(); ok {
				links.Add(l)
			}
			if tp.UserID == "" {
				anonOnly = append(anonOnly, idAt{tp.AnonymousID, tp.TimeMs})
			} else {
				userEvents = append(userEvents, idAt{tp.UserID, tp.TimeMs})
			}
		case Conversion:
			cv, err := dec.Conversion([]byte(e.value))
			if err != nil {
				t.Fatalf("%s: %v", e.value, err)
			}
			if l, ok := cv.Link(); ok {
				links.Add(l)
			}
			if cv.UserID != "" {
				userEvents = append(userEvents, idAt{cv.UserID, cv.TimeMs})
			}
			switch {
			case cv.AnonymousID == "":
				backend++
			case cv.UserID == "":
				device++
			}
		}
		lastEmitted++
	}
	for _, ev := range userEvents {
		if login, ok := logins[ev.id]; ok && ev.ms < login {
			t.Fatalf("an event of %s at %d carries its user_id before the login at %d", ev.id, ev.ms, login)
		}
	}
	// Delivery delays, in the traffic's stream positions.
	for _, e := range tr.events {
		if lag := e.emitMs - e.timeMs; e.kind == Identity && lag > int64(time.Hour/time.Millisecond) {
			late++
			if lag > 24*3600e3 {
				dayLate++
			}
		}
	}
	// Every logged-out user's events before its login lack the user_id;
	// after the stitching, most device-only events have a user.
	stitched := 0
	for _, a := range anonOnly {
		if _, ok := links.User(a.id); ok {
			stitched++
		}
	}
	loggedOut = int64(len(logins))
	known := 0
	for _, u := range tr.users {
		if u.userID != "" {
			known++
		}
	}
	if got := float64(loggedOut) / float64(known); got < share-0.03 || got > share+0.03 {
		t.Errorf("%.3f of the users with a user_id log in by an identity event, want about %v", got, share)
	}
	if stitched < len(anonOnly)/2 {
		t.Errorf("only %d of %d anonymous events belong to a linked device", stitched, len(anonOnly))
	}
	if late < int64(loggedOut)/10 || dayLate == 0 {
		t.Errorf("%d identity events more than an hour late, %d more than a day, of %d: want some of both", late, dayLate, loggedOut)
	}
	if links.Conflicts() == 0 {
		t.Error("no shared device: want some conflicts")
	}
	if backend == 0 || device == 0 {
		t.Errorf("%d backend conversions (user_id only), %d device conversions (anonymous_id only): want both", backend, device)
	}
	t.Logf("%d events, %d logins (%d > 1h late, %d > 1 day), %d devices linked, %d conflicts, %d/%d anonymous events stitched, conversions: %d backend, %d device",
		lastEmitted, loggedOut, late, dayLate, links.Len(), links.Conflicts(), stitched, len(anonOnly), backend, device)
}

func TestLoggedOutShareIsValidated(t *testing.T) {
	for _, v := range []float64{-0.1, 1.5} {
		if err := (Config{LoggedOutShare: v}).WithDefaults().Validate(); err == nil {
			t.Errorf("logged_out_share %v accepted", v)
		}
	}
}
