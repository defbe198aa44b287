package schemas_test

import (
	"strings"
	"testing"

	"github.com/attributor/attributor/schemas"
)

func TestDefaultChannels(t *testing.T) {
	cases := []struct{ source, medium, want string }{
		{"google", "cpc", "paid_search"},
		{"bing", "ppc", "paid_search"},
		{"", "cpc", "paid_search"},
		{"Google", "CPC", "paid_search"},     // case-insensitive
		{" google ", " cpc ", "paid_search"}, // trimmed
		{"google", "paid", "paid_search"},
		{"facebook", "cpc", "paid_social"},
		{"instagram", "paid_social", "paid_social"},
		{"linkedin", "paid", "paid_social"},
		{"dv360", "display", "display"},
		{"criteo", "cpm", "display"},
		{"example-network", "banner", "display"},
		{"partner-network", "affiliate", "affiliate"},
		{"awin", "affiliates", "affiliate"},
		{"newsletter", "email", "email"},
		{"mailchimp", "e-mail", "email"},
		{"newsletter", "", "email"},
		{"google", "organic", "organic_search"},
		{"duckduckgo", "", "organic_search"},
		{"www.google.co.uk", "referral", "organic_search"},
		{"facebook", "social", "social"},
		{"t.co", "", "social"},
		{"m.facebook.com", "referral", "social"},
		{"news.example.com", "referral", "referral"},
		{"blog.example.org", "link", "referral"},
		{"(direct)", "(none)", "direct"},
		{"direct", "none", "direct"},
		{"", "", "direct"},
		{"(direct)", "", "direct"},
		{"", "(not set)", "direct"},
		{"podcast", "audio", "other"},
		{"", "sms", "other"},
	}
	r := schemas.DefaultChannelRules()
	for _, tc := range cases {
		// Twice: the second answer comes from the memo.
		for i := 0; i < 2; i++ {
			if got := r.Channel(tc.source, tc.medium); got != tc.want {
				t.Errorf("Channel(%q, %q) = %q (call %d), want %q", tc.source, tc.medium, got, i+1, tc.want)
			}
		}
	}
}

func TestParseChannelRules(t *testing.T) {
	r, err := schemas.ParseChannelRules([]byte(`{
		"rules": [
			{"channel": "search", "source": "google|bing"},
			{"channel": "newsletter", "medium": "e-?mail"}
		],
		"fallback": "misc"
	}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ source, medium, want string }{
		{"google", "cpc", "search"},
		{"BING", "organic", "search"},
		{"googlex", "cpc", "misc"}, // patterns match the whole value
		{"crm", "e-mail", "newsletter"},
		{"", "", "misc"}, // the default grouping is replaced entirely
	} {
		if got := r.Channel(tc.source, tc.medium); got != tc.want {
			t.Errorf("Channel(%q, %q) = %q, want %q", tc.source, tc.medium, got, tc.want)
		}
	}

	r, err = schemas.ParseChannelRules([]byte(`{"rules": [{"channel": "all"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Fallback != "other" || r.Channel("x", "y") != "all" {
		t.Errorf("fallback %q, Channel %q; want other and all", r.Fallback, r.Channel("x", "y"))
	}
}

func TestParseChannelRulesErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{``, "channel rules: EOF"},
		{`{"rules": [`, "channel rules: unexpected EOF"},
		{`[]`, "channel rules: json: cannot unmarshal array"},
		{`{"rules": []}`, "channel rules: rules: at least one rule is required"},
		{`{}`, "channel rules: rules: at least one rule is required"},
		{`{"rules": [{"channel": "a"}], "fallbak": "x"}`, `unknown field "fallbak"`},
		{`{"rules": [{"channel": "a", "sources": "x"}]}`, `unknown field "sources"`},
		{`{"rules": [{"channel": "a"}, {"medium": "cpc"}]}`, "channel rules: rules[1].channel: required"},
		{`{"rules": [{"channel": "a", "source": "(google"}]}`, "channel rules: rules[0].source: error parsing regexp"},
		{`{"rules": [{"channel": "a", "medium": "*"}]}`, "channel rules: rules[0].medium: error parsing regexp"},
		{`{"rules": [{"channel": 5}]}`, "channel rules: json: cannot unmarshal number"},
		{`{"rules": [{"channel": "a"}]} {"rules": []}`, "channel rules: unexpected data after the rules document"},
		{`{"rules": [{"channel": "a"}]}}`, "channel rules: unexpected data after the rules document"},
	} {
		_, err := schemas.ParseChannelRules([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseChannelRules(%s) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}
