package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
)

// Channel names of the default grouping.
const (
	ChannelPaidSearch    = "paid_search"
	ChannelPaidSocial    = "paid_social"
	ChannelDisplay       = "display"
	ChannelAffiliate     = "affiliate"
	ChannelEmail         = "email"
	ChannelOrganicSearch = "organic_search"
	ChannelSocial        = "social"
	ChannelReferral      = "referral"
	ChannelDirect        = "direct"
	ChannelOther         = "other"
	// ChannelNone labels the credit row of a conversion that had no touchpoint
	// in its window.
	ChannelNone = "(none)"
)

// ChannelRule maps a (source, medium) pair to a channel. Source and Medium are
// regular expressions matched case-insensitively against the whole value;
// an empty pattern matches anything.
type ChannelRule struct {
	Channel string `json:"channel"`
	Source  string `json:"source,omitempty"`
	Medium  string `json:"medium,omitempty"`
}

// ChannelRules is an ordered channel grouping: the first matching rule wins,
// and a touchpoint no rule matches gets the Fallback channel. Rules from
// DefaultChannelRules or ParseChannelRules are safe for concurrent use;
// change them only by parsing new ones.
type ChannelRules struct {
	Rules    []ChannelRule `json:"rules"`
	Fallback string        `json:"fallback,omitempty"`

	compiled []compiledRule
	cache    *channelCache // nil until compiled
}

type compiledRule struct {
	channel        string
	source, medium *regexp.Regexp
}

const (
	searchSources = `google|bing|yahoo|duckduckgo|baidu|yandex|ecosia|naver|ask|aol|startpage|qwant|.*\.google\..*|search\..*`
	socialSources = `facebook|fb|instagram|ig|meta|twitter|x|t\.co|linkedin|lnkd\.in|pinterest|tiktok|snapchat|reddit|youtube|quora|tumblr|vk|weibo|threads|.*facebook\.com|.*instagram\.com|.*linkedin\.com|.*tiktok\.com|.*reddit\.com`
	paidMediums   = `cpc|ppc|cpa|cpv|paid.*|retargeting|.*_cpc|.*-cpc`
)

// DefaultChannelRuleList is the default grouping, in the spirit of Google
// Analytics' default channel grouping. It is exported so that a rules file can
// start from a copy of it.
var DefaultChannelRuleList = []ChannelRule{
	{Channel: ChannelDirect, Source: `\(direct\)|direct|`, Medium: `\(none\)|\(not set\)|none|`},
	{Channel: ChannelDisplay, Medium: `display|cpm|banner|expandable|interstitial|programmatic`},
	{Channel: ChannelPaidSocial, Medium: `paid[_ -]?social|social[_ -]?paid|paidsocial`},
	{Channel: ChannelPaidSocial, Source: socialSources, Medium: paidMediums},
	{Channel: ChannelPaidSearch, Medium: `cpc|ppc|paidsearch|paid[_ -]search|sem|sea`},
	{Channel: ChannelPaidSearch, Source: searchSources, Medium: paidMediums},
	{Channel: ChannelAffiliate, Medium: `affiliates?|partner`},
	{Channel: ChannelEmail, Medium: `e[-_ ]?mail|newsletter`},
	{Channel: ChannelEmail, Source: `e[-_ ]?mail|newsletter`},
	{Channel: ChannelOrganicSearch, Medium: `organic`},
	{Channel: ChannelOrganicSearch, Source: searchSources, Medium: `\(none\)|none|referral|`},
	{Channel: ChannelSocial, Medium: `social|social[-_ ]network|social[-_ ]media|sm`},
	{Channel: ChannelSocial, Source: socialSources},
	{Channel: ChannelReferral, Medium: `referral|link`},
}

var defaultRules = mustCompile(&ChannelRules{Rules: DefaultChannelRuleList, Fallback: ChannelOther})

func mustCompile(r *ChannelRules) *ChannelRules {
	if err := r.compile(); err != nil {
		panic(err)
	}
	return r
}

// DefaultChannelRules returns the built-in grouping.
func DefaultChannelRules() *ChannelRules { return defaultRules }

// ParseChannelRules reads a JSON rules document:
//
//	{"rules": [{"channel": "paid_search", "medium": "cpc|ppc"}, ...], "fallback": "other"}
//
// The rules replace the default grouping entirely.
func ParseChannelRules(b []byte) (*ChannelRules, error) {
	r := &ChannelRules{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(r); err != nil {
		return nil, fmt.Errorf("channel rules: %w", err)
	}
	// A second document or garbage after the first is a broken file, not
	// something to ignore.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("channel rules: unexpected data after the rules document")
	}
	if len(r.Rules) == 0 {
		return nil, fmt.Errorf("channel rules: rules: at least one rule is required")
	}
	if r.Fallback == "" {
		r.Fallback = ChannelOther
	}
	if err := r.compile(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *ChannelRules) compile() error {
	r.compiled = make([]compiledRule, 0, len(r.Rules))
	for i, rule := range r.Rules {
		if rule.Channel == "" {
			return fmt.Errorf("channel rules: rules[%d].channel: required", i)
		}
		c := compiledRule{channel: rule.Channel}
		var err error
		if c.source, err = anchored(rule.Source); err != nil {
			return fmt.Errorf("channel rules: rules[%d].source: %w", i, err)
		}
		if c.medium, err = anchored(rule.Medium); err != nil {
			return fmt.Errorf("channel rules: rules[%d].medium: %w", i, err)
		}
		r.compiled = append(r.compiled, c)
	}
	r.cache = &channelCache{m: make(map[channelKey]string)}
	return nil
}

func anchored(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, nil
	}
	return regexp.Compile(`^(?i:` + pattern + `)$`)
}

// Channel returns the channel of a touchpoint from its source and medium.
// Results are memoised in a bounded cache (see channelCacheSize): a stream
// repeats a few thousand pairs, and matching every rule's regular expressions
// per touchpoint would dominate decoding.
func (r *ChannelRules) Channel(source, medium string) string {
	source, medium = strings.TrimSpace(source), strings.TrimSpace(medium)
	key := channelKey{source, medium}
	cacheable := r.cache != nil && len(source)+len(medium) <= maxCachedPairLen
	if cacheable {
		if ch, ok := r.cache.get(key); ok {
			return ch
		}
	}
	ch := r.match(source, medium)
	if cacheable {
		r.cache.put(key, ch)
	}
	return ch
}

func (r *ChannelRules) match(source, medium string) string {
	for i := range r.compiled {
		c := &r.compiled[i]
		if c.source != nil && !c.source.MatchString(source) {
			continue
		}
		if c.medium != nil && !c.medium.MatchString(medium) {
			continue
		}
		return c.channel
	}
	return r.Fallback
}

const (
	// channelCacheSize bounds the memo of ChannelRules.Channel. When it is
	// full it is emptied and refills with the pairs in use, so that garbage
	// sources can never grow it nor pin it.
	channelCacheSize = 4096
	// maxCachedPairLen keeps long sources and mediums (up to MaxTextLength
	// each) out of the memo, bounding its memory to about 1 MB.
	maxCachedPairLen = 256
)

type channelKey struct{ source, medium string }

// channelCache is a mutex-guarded map: a lookup takes the read lock and
// allocates nothing.
type channelCache struct {
	mu sync.RWMutex
	m  map[channelKey]string
}

func (c *channelCache) get(k channelKey) (string, bool) {
	c.mu.RLock()
	ch, ok := c.m[k]
	c.mu.RUnlock()
	return ch, ok
}

func (c *channelCache) put(k channelKey, ch string) {
	// Own copies of the key: the caller's strings may point into a larger
	// buffer the cache must not keep alive.
	k = channelKey{strings.Clone(k.source), strings.Clone(k.medium)}
	c.mu.Lock()
	if len(c.m) >= channelCacheSize {
		clear(c.m)
	}
	c.m[k] = ch
	c.mu.Unlock()
}
