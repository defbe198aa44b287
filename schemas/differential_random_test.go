package schemas_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/attributor/attributor/schemas"
)

// TestDecodeMatchesReferenceRandom compares the decoder with the reference
// on events built from the pieces that matter (field names in other cases
// and escaped, every kind of value, some broken), which byte mutations of
// the fuzz corpus reach only by luck.
func TestDecodeMatchesReferenceRandom(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	d := schemas.NewDecoder(nil)
	r := rand.New(rand.NewPCG(1, 2))
	for range n {
		b := []byte(randomEvent(r))
		sameTouchpoint(t, d, b)
		sameConversion(t, d, b)
		sameIdentity(t, d, b)
	}
}

var (
	randomKeys = []string{
		"event_id", "user_id", "anonymous_id", "timestamp", "interaction", "channel", "source", "medium", "campaign",
		"cost", "conversion_type", "revenue", "currency", "EVENT_ID", "User_Id", "TimeStamp", "Cost", "REVENUE",
		`\u0065vent_id`, `user\u005fid`, "ſource", "uſer_id", "\u017fOURCE", "Currency", "x", "", "page", "event_id2",
		"\u212a", `\ud83d\ude00`, "source\xff",
	}
	randomValues = []string{
		`"e1"`, `"u1"`, `""`, `null`, `true`, `false`, `0`, `-0`, `1`, `-1`, `0.5`, `249.99`, `1e2`, `1E-2`, `-0.0`,
		`1e400`, `-1e400`, `1e-400`, `1710513000000`, `1710513000000.0`, `1.710513e12`, `17105130000000000000000`,
		`"2024-03-15T14:30:00Z"`, `"2024-03-15T14:30:00.250+01:00"`, `"2024-03-15T4:30:00Z"`, `"2024-02-30T00:00:00Z"`,
		`"2024-03-15T14:30:00\u005a"`, `"click"`, `"impression"`, `"CLICK"`, `"google"`, `"cpc"`, `"\u00e9t\u00e9"`,
		`"a\ud83d\ude00b"`, `"\ud800"`, `"\udc00\ud800x"`, "\"\xff\xfe\"", "\"é€\"", `"\n\t\\\"\/"`, `"\u0000"`,
		`[]`, `{}`, `[1,"a",null,{"b":[true]}]`, `{"a":{"b":{"c":[]}}}`, `"` + strings.Repeat("x", 600) + `"`,
		`"` + strings.Repeat("y", 1100) + `"`,
		// Broken values.
		`01`, `1.`, `-`, `.5`, `+1`, `1e`, `nul`, `nullx`, `tru`, `"\x"`, `"\u12"`, `"\uzzzz"`, "\"a\x01\"", `"abc`,
		`[1,]`, `{"a":1,}`, `[`, `{`, `{"a"}`, `NaN`, `Infinity`,
	}
	randomSpaces = []string{"", "", "", " ", "\n", "\t", "\r\n ", "\u00a0"}
)

// randomEvent returns a JSON object of a few random fields, now and then
// truncated or followed by something.
func randomEvent(r *rand.Rand) string {
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	var b strings.Builder
	b.WriteString(pick(randomSpaces))
	b.WriteString("{")
	// Mostly a valid identity, so that later fields matter.
	if r.IntN(4) != 0 {
		b.WriteString(`"event_id":"e1","user_id":"u1","timestamp":1710513000000`)
		if r.IntN(2) == 0 {
			b.WriteString(`,"anonymous_id":"a1"`)
		}
		if r.IntN(2) == 0 {
			b.WriteString(",")
		}
	}
	for i, n := 0, r.IntN(6); i < n; i++ {
		if i > 0 {
			b.WriteString(pick(randomSpaces) + ",")
		}
		b.WriteString(pick(randomSpaces) + `"` + pick(randomKeys) + `"` + pick(randomSpaces) + ":" + pick(randomSpaces))
		b.WriteString(pick(randomValues))
	}
	b.WriteString(pick(randomSpaces) + "}")
	s := b.String()
	switch r.IntN(10) {
	case 0:
		s = s[:r.IntN(len(s))]
	case 1:
		s += pick([]string{" x", "}", "{}", "\x00", " ", "\u00a0", ","})
	}
	return s
}
