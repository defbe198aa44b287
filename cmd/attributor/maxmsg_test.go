package main

import (
	"strings"
	"testing"
)

// --max-message-bytes (and its variable) takes a size, --max-path-touchpoints
// a count in range; nonsense is refused before anything connects.
func TestRunMaxMessageBytesFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  string
		want string
	}{
		{args: []string{"--max-message-bytes", "0"}, want: "max-message-bytes: must be in (0, 1GiB], got 0B"},
		{args: []string{"--max-message-bytes", "2GiB"}, want: "max-message-bytes: must be in (0, 1GiB], got 2GiB"},
		{args: []string{"--max-message-bytes", "lots"}, want: "invalid value \"lots\" for flag --max-message-bytes"},
		{env: "-1", want: "ATTRIBUTOR_MAX_MESSAGE_BYTES"},
		{args: []string{"--max-path-touchpoints", "0"}, want: "max-path-touchpoints: must be in [1, 10000], got 0"},
		{args: []string{"--max-path-touchpoints", "10001"}, want: "max-path-touchpoints: must be in [1, 10000], got 10001"},
	} {
		t.Setenv("ATTRIBUTOR_MAX_MESSAGE_BYTES", c.env)
		var stdout, stderr strings.Builder
		if code := runRun(c.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v env %q: exit %d, stderr %q; want 2 and %q", c.args, c.env, code, stderr.String(), c.want)
		}
	}
}
