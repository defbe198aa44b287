package main

import (
	"strings"
	"testing"

	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// `topics check` exits 1 naming what is missing, `topics create` makes the
// topics and exits 0, and check then exits 0.
func TestTopicsCommand(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	args := func(sub string, more ...string) []string {
		return append([]string{"topics", sub, "--brokers", env.Kafka, "--touchpoints-topic", env.Touchpoints,
			"--conversions-topic", env.Conversions, "--dlq-topic", env.DLQ, "--spend-topic", env.Spend, "--identities-topic", env.Identities, "--group", env.Group}, more...)
	}
	code, out, errOut := runSubcommand(args("check")...)
	if code != 1 || !strings.Contains(out, "problem: touchpoints topic \""+env.Touchpoints+"\" does not exist: create it with `attributor topics create`") {
		t.Errorf("check of missing topics: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runSubcommand(args("create", "--partitions", "2", "--retention", "72h")...)
	if code != 0 || !strings.Contains(out, "created topic "+env.Conversions) || !strings.Contains(out, "ok: the topics are as `attributor run` needs them") {
		t.Errorf("create: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "created topic "+env.Identities) {
		t.Errorf("create made no identities topic:\n%s", out)
	}
	if !strings.Contains(out, env.Touchpoints+": 2 partitions, replication factor 1, min.insync.replicas 1, cleanup.policy delete, retention 72h0m0s") {
		t.Errorf("create's report:\n%s", out)
	}
	if code, out, errOut = runSubcommand(args("check")...); code != 0 {
		t.Errorf("check after create: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut = runSubcommand("topics", "delete"); code != 2 || !strings.Contains(errOut, "want create or check") {
		t.Errorf("topics delete: exit %d\n%s", code, errOut)
	}
}
