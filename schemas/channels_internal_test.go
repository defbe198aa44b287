package schemas

import (
	"fmt"
	"sync"
	"testing"
)

// TestChannelCacheBounded checks that the memo never holds more than
// channelCacheSize pairs and keeps answering like the rules do.
func TestChannelCacheBounded(t *testing.T) {
	r := mustCompile(&ChannelRules{Rules: DefaultChannelRuleList, Fallback: ChannelOther})
	for i := 0; i < 3*channelCacheSize; i++ {
		src := fmt.Sprintf("site-%d.example", i)
		if got := r.Channel(src, "referral"); got != ChannelReferral {
			t.Fatalf("Channel(%s, referral) = %s", src, got)
		}
		if n := len(r.cache.m); n > channelCacheSize {
			t.Fatalf("memo holds %d pairs, more than %d", n, channelCacheSize)
		}
	}
	long := string(make([]byte, maxCachedPairLen))
	before := len(r.cache.m)
	if got := r.Channel(long, "email"); got != ChannelEmail {
		t.Fatalf("Channel(long, email) = %s", got)
	}
	if len(r.cache.m) != before {
		t.Error("a pair longer than maxCachedPairLen was memoised")
	}
}

// TestChannelCacheConcurrent hammers one rule set from several goroutines
// (run with -race) and checks every answer against the uncached match.
func TestChannelCacheConcurrent(t *testing.T) {
	r := mustCompile(&ChannelRules{Rules: DefaultChannelRuleList, Fallback: ChannelOther})
	pairs := [][2]string{{"google", "cpc"}, {"facebook", "social"}, {"", ""}, {"newsletter", "email"}, {"x", "y"}}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				p := pairs[(g+i)%len(pairs)]
				if i%7 == 0 { // new pairs force inserts and clears
					p[0] = fmt.Sprintf("s%d-%d", g, i)
				}
				if got, want := r.Channel(p[0], p[1]), r.match(p[0], p[1]); got != want {
					t.Errorf("Channel(%q, %q) = %q, want %q", p[0], p[1], got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestChannelUncompiled checks that rules built by hand, never compiled,
// answer their fallback instead of panicking on the missing memo.
func TestChannelUncompiled(t *testing.T) {
	r := &ChannelRules{Fallback: "other"}
	if got := r.Channel("google", "cpc"); got != "other" {
		t.Fatalf("Channel = %q, want the fallback", got)
	}
}
