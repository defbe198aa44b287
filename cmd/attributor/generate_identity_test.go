package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/schemas"
)

// --logged-out-share writes identities next to the touchpoints and
// conversions, to a file and to an identities topic that --create-topics
// creates; replay stitches them without a complaint.
func TestGenerateCommandLoggedOut(t *testing.T) {
	addr := testKafka(t)
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	tpTopic, cvTopic, idTopic := "test-generate-tp-"+suffix, "test-generate-cv-"+suffix, "test-generate-id-"+suffix
	t.Cleanup(func() { deleteTopics(t, addr, tpTopic, cvTopic, idTopic) })
	dir := t.TempDir()
	code, _, stderr := runSubcommand("generate", "--seed", "4", "--users", "1500", "--logged-out-share", "0.3", "--out", dir,
		"--kafka", addr, "--touchpoints-topic", tpTopic, "--conversions-topic", cvTopic, "--identities-topic", idTopic,
		"--partitions", "2", "--create-topics")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, " identity events, ") || !strings.Contains(stderr, idTopic) {
		t.Errorf("the summary does not count the identity events or name their topic:\n%s", stderr)
	}
	lines := readLines(t, filepath.Join(dir, "identities.ndjson"))
	dec := schemas.NewDecoder(nil)
	want := map[string]int{}
	for _, l := range lines {
		id, err := dec.Identity([]byte(l))
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		want[id.UserID]++
	}
	n := 0
	for _, msgs := range readTopic(t, addr, idTopic, 2) {
		for _, m := range msgs {
			n++
			id, err := dec.Identity(m.Value)
			if err != nil || string(m.Key) != id.UserID {
				t.Fatalf("identity message key %q, value %s: %v", m.Key, m.Value, err)
			}
		}
	}
	if n != len(lines) || n == 0 {
		t.Errorf("%d identity messages, %d identity events in the file", n, len(lines))
	}

	code, stdout, stderr := runSubcommand("replay", "--touchpoints", filepath.Join(dir, "touchpoints.ndjson"),
		"--conversions", filepath.Join(dir, "conversions.ndjson"), "--identities", filepath.Join(dir, "identities.ndjson"), "--models", "last_click")
	if code != 0 || strings.Contains(stderr, ".ndjson:") || stdout == "" || strings.Contains(stderr, "events stitched:         0\n") {
		t.Errorf("replay of generated files with identities: exit %d\n%s", code, stderr)
	}
}

func TestGenerateCommandLoggedOutShareErrors(t *testing.T) {
	code, _, stderr := runSubcommand("generate", "--out", t.TempDir(), "--logged-out-share", "1.5")
	if code != 2 || !strings.Contains(stderr, "logged_out_share: must be in [0, 1], got 1.5") {
		t.Errorf("exit %d, %s", code, stderr)
	}
	// Without logged-out traffic there is no identities file.
	dir := t.TempDir()
	if code, _, stderr := runSubcommand("generate", "--users", "10", "--out", dir); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "identities.ndjson")); !os.IsNotExist(err) {
		t.Errorf("identities.ndjson written without --logged-out-share: %v", err)
	}
}
