package schemas

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
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
// and a touchpoint no rule matches gets the Fallback channel.
type ChannelRules struct {
	Rules    []ChannelRule `json:"rules"`
	Fallback string        `json:"fallback,omitempty"`

	compiled []compiledRule
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
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(r); err != nil {
		return nil, fmt.Errorf("channel rules: %w", err)
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
	return nil
}

func anchored(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, nil
	}
	return regexp.Compile(`^(?i:` + pattern + `)$`)
}

// Channel returns the channel of a touchpoint from its source and medium.
func (r *ChannelRules) Channel(source, medium string) string {
	source, medium = strings.TrimSpace(source), strings.TrimSpace(medium)
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
