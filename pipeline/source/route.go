package source

import (
	"strings"

	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/schemas"
)

// route is the one place that decides where a decoded event is processed
// first: the key it goes under and its home, the repartition partition
// whose owner holds that key's state: murmur2(key) mod R, the Java
// client's partitioner, so that a producer keying by the attribution key
// with murmur2 into R partitions puts every event at home (the direct
// path). A touchpoint or conversion goes under its own key (user_id, else
// anonymous_id): a device's event (anonymous_id only) thus reaches its
// device's home, whose shard knows the device's links and resolves it (it
// forwards the event to its user's home when linked). An identity event
// goes to its anonymous_id's home, where links are decided (see
// linkCopy for the links of events carrying both ids).
func (rt *Routing) route(it *flow.Item) (key string, home int) {
	switch it.Kind {
	case flow.KindTouchpoint:
		key = it.TP.Key()
	case flow.KindIdentity:
		key = it.Link.AnonymousID
	default:
		key = it.CV.Key()
	}
	return key, flow.Home(key, rt.Homes)
}

// linkCopy returns the link of a touchpoint or conversion carrying both
// ids when stitching is on: it goes to its anonymous_id's home (the only
// place that decides the device's user) while the event is processed
// under its user_id.
//
// A logged-in device repeats the same link on every event: a copy is not
// sent when this fetcher already sent one of the same device and user
// stamped earlier, since its anonymous_id's home would find it changes
// nothing (same user, later: ignored; or a conflict already counted).
// The copies sent are remembered for up to maxSentLinks devices.
func (f *Fetcher) linkCopy(it *flow.Item) (schemas.Link, bool) {
	if !f.src.Stitching {
		return schemas.Link{}, false
	}
	var l schemas.Link
	var ok bool
	if it.Kind == flow.KindTouchpoint {
		l, ok = it.TP.Link()
	} else {
		l, ok = it.CV.Link()
	}
	if !ok {
		return l, false
	}
	if s, seen := f.sentLinks[l.AnonymousID]; seen && s.user == l.UserID && s.timeMs < l.TimeMs {
		return l, false
	}
	if f.sentLinks == nil || len(f.sentLinks) >= maxSentLinks {
		f.sentLinks = make(map[string]sentLink)
	}
	// Copies: the ids are views of their event's one block of strings
	// (schemas.Decoder.OneBlock), which a remembered view would keep whole.
	// (An assignment to a key already there stores the new key too.)
	user := l.UserID
	if s, seen := f.sentLinks[l.AnonymousID]; seen && s.user == user {
		user = s.user
	} else {
		user = strings.Clone(user)
	}
	f.sentLinks[strings.Clone(l.AnonymousID)] = sentLink{user: user, timeMs: l.TimeMs}
	return l, true
}

// sentLink is the link copy a fetcher last sent for a device.
type sentLink struct {
	user   string
	timeMs int64
}

// maxSentLinks bounds the devices whose last link copy a fetcher
// remembers (about 100 bytes each); the memory is dropped when full.
const maxSentLinks = 1 << 16

// forwards says whether the fetcher's topic is an input whose events are
// routed to their homes (touchpoints, conversions, identities when
// stitching; not spend or the repartition topic itself).
func (f *Fetcher) forwards() bool {
	return f.topic == f.src.Cfg.TouchpointsTopic || f.topic == f.src.Cfg.ConversionsTopic || f.isIdentities()
}

// isIdentities says whether the fetcher reads the identities topic.
func (f *Fetcher) isIdentities() bool {
	return f.src.Stitching && f.topic == f.src.Cfg.IdentitiesTopic
}
