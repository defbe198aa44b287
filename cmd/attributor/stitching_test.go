package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readmeSection returns the text of README.md from the heading to the next
// heading of level 2.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), heading+"\n")
	if !ok {
		t.Fatalf("README.md has no %q", heading)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// fromRoot rewrites an argument that names a file of the repository from
// its root to this package's directory.
func fromRoot(arg string) string {
	if strings.HasPrefix(arg, "testdata/") {
		return filepath.Join("..", "..", arg)
	}
	return arg
}

// The README's stitching example, command for command: every `$ cat` shows
// the file as it is, every `$ attributor replay` prints exactly the lines
// that follow it.
func TestReadmeStitchingExample(t *testing.T) {
	sec := readmeSection(t, "### A hand-checkable stitching example")
	blocks := strings.Split(sec, "```")
	var commands int
	for i := 1; i < len(blocks); i += 2 {
		lines := strings.Split(strings.TrimPrefix(blocks[i], "\n"), "\n")
		for k := 0; k < len(lines); {
			if !strings.HasPrefix(lines[k], "$ ") {
				t.Fatalf("README block %d: %q is not a command", i/2, lines[k])
			}
			cmd := strings.TrimPrefix(lines[k], "$ ")
			for k++; strings.HasSuffix(cmd, `\`) && k < len(lines); k++ {
				cmd = strings.TrimSuffix(cmd, `\`) + " " + strings.TrimSpace(lines[k])
			}
			var want []string
			for ; k < len(lines) && !strings.HasPrefix(lines[k], "$ "); k++ {
				if lines[k] != "" {
					want = append(want, lines[k])
				}
			}
			args := strings.Fields(cmd)
			for j := range args {
				args[j] = fromRoot(args[j])
			}
			var got string
			switch args[0] {
			case "cat":
				b, err := os.ReadFile(args[1])
				if err != nil {
					t.Fatal(err)
				}
				got = string(b)
			case "attributor":
				code, stdout, stderr := runSubcommand(args[1:]...)
				if code != 0 {
					t.Fatalf("%s: exit %d: %s", cmd, code, stderr)
				}
				got = stdout
				if strings.Contains(cmd, "--identities") {
					for _, s := range []string{"devices linked:          1", "  conflicts:             0", "events stitched:         1"} {
						if !strings.Contains(stderr, s+"\n") {
							t.Errorf("%s: the summary lacks %q, as the README says:\n%s", cmd, s, stderr)
						}
					}
				}
			default:
				t.Fatalf("README command %q: the test runs only cat and attributor", cmd)
			}
			if g := strings.TrimSpace(got); g != strings.Join(want, "\n") {
				t.Errorf("$ %s\ngot:\n%s\nthe README says:\n%s", cmd, g, strings.Join(want, "\n"))
			}
			commands++
		}
	}
	if commands != 5 {
		t.Errorf("%d commands in the README example, want 5 (three files, replay without and with identities)", commands)
	}
}

// The README's two variations of the example: a later link of the device
// to u2 is a conflict and changes nothing; an earlier one takes the device.
func TestReadmeStitchingVariations(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "stitching")
	base, err := os.ReadFile(filepath.Join(dir, "identities.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(extra string) (string, string) {
		t.Helper()
		ids := filepath.Join(t.TempDir(), "identities.ndjson")
		// The extra link comes first in the file: arrival order does not matter.
		os.WriteFile(ids, []byte(extra+"\n"+string(base)), 0o644)
		code, stdout, stderr := runSubcommand("replay", "--touchpoints", filepath.Join(dir, "touchpoints.ndjson"),
			"--conversions", filepath.Join(dir, "conversions.ndjson"), "--identities", ids, "--models", "last_click")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		return stdout, stderr
	}
	out, summary := run(`{"event_id":"id-2","anonymous_id":"anon-7","user_id":"u2","timestamp":"2026-11-27T10:00:00Z"}`)
	if !strings.Contains(out, `"channel":"paid_search"`) || !strings.Contains(summary, "  conflicts:             1\n") {
		t.Errorf("a later link to u2: want paid_search credited and one conflict:\n%s%s", out, summary)
	}
	out, summary = run(`{"event_id":"id-0","anonymous_id":"anon-7","user_id":"u2","timestamp":"2026-11-27T08:00:00Z"}`)
	if !strings.Contains(out, `"channel":"(none)"`) || !strings.Contains(summary, "  conflicts:             1\n") {
		t.Errorf("an earlier link to u2: want c1 of u1 unattributed and u1 a conflict:\n%s%s", out, summary)
	}
}

func TestReplayIdentitiesErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.ndjson")
	code, _, stderr := runSubcommand("replay", "--touchpoints", exampleTouchpoints, "--conversions", exampleConversions, "--identities", missing)
	if code != 1 || !strings.Contains(stderr, "identities: open") {
		t.Errorf("missing identities file: exit %d, %s", code, stderr)
	}
	bad := filepath.Join(t.TempDir(), "ids.ndjson")
	os.WriteFile(bad, []byte(`{"event_id":"i1","anonymous_id":"a","timestamp":1795771200000}`+"\n"), 0o644)
	code, _, stderr = runSubcommand("replay", "--touchpoints", exampleTouchpoints, "--conversions", exampleConversions, "--identities", bad)
	if code != 0 || !strings.Contains(stderr, bad+":1: user_id: required") || !strings.Contains(stderr, "  invalid:               1\n") {
		t.Errorf("an invalid identity line is reported and counted, the replay goes on: exit %d, %s", code, stderr)
	}
}
