package main

import (
	"strings"
	"testing"
)

// attributor rollup refuses what it cannot do with exit 2 and a line
// naming the flag, before connecting anywhere.
func TestRollupFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"rollup", "--redo-to", "2026-09-30"}, "attributor rollup: redo-to: needs --redo-from"},
		{[]string{"rollup", "--redo-from", "Sept 1"}, `attributor rollup: redo-from: "Sept 1" is not a day (YYYY-MM-DD)`},
		{[]string{"rollup", "--redo-from", "2026-09-30", "--redo-to", "2026-09-01"}, "attributor rollup: redo-to: 2026-09-01 is before redo-from 2026-09-30"},
		{[]string{"rollup", "--database", "a-b"}, `attributor rollup: "a-b" is not a valid identifier`},
	} {
		code, stdout, stderr := runSubcommand(c.args...)
		if code != 2 || stdout != "" || !strings.HasPrefix(stderr, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", c.args, code, stdout, stderr, c.want)
		}
	}
}
