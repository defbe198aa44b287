package pipeline_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/pipeline/pipelinetest"
)

// startupCase is a wrong configuration that must fail at start with a
// message naming the problem.
type startupCase struct {
	name    string
	opt     pipelinetest.Options
	config  func(env *pipelinetest.Env, c *pipeline.Config)
	args    func(env *pipelinetest.Env) []string // flags replacing or adding to env.Args(); nil: no binary check
	code    int                                  // the binary's exit code
	message []string                             // substrings of the error, all required
}

func startupCases() []startupCase {
	return []startupCase{
		{
			name:    "unreachable broker",
			config:  func(env *pipelinetest.Env, c *pipeline.Config) { c.Brokers = []string{"127.0.0.1:1"} },
			args:    func(env *pipelinetest.Env) []string { return []string{"--brokers", "127.0.0.1:1"} },
			code:    1,
			message: []string{"kafka", "127.0.0.1:1", "unreachable"},
		},
		{
			name:    "unreachable clickhouse",
			config:  func(env *pipelinetest.Env, c *pipeline.Config) { c.ClickHouse.Addr = "127.0.0.1:1" },
			args:    func(env *pipelinetest.Env) []string { return []string{"--clickhouse", "127.0.0.1:1"} },
			code:    1,
			message: []string{"clickhouse", "127.0.0.1:1", "unreachable"},
		},
		{
			name: "repartition topic of another count",
			config: func(env *pipelinetest.Env, c *pipeline.Config) {
				env.CreateTopic(pipeline.RepartitionTopic(env.Group), 3)
				c.RepartitionPartitions = 5
			},
			args: func(env *pipelinetest.Env) []string {
				env.CreateTopic(pipeline.RepartitionTopic(env.Group), 3)
				return []string{"--repartition-partitions", "5"}
			},
			code:    1,
			message: []string{".repartition\" has 3 partitions", "--repartition-partitions is 5"},
		},
		{
			name: "missing topic",
			opt:  pipelinetest.Options{NoTopics: true},
			config: func(env *pipelinetest.Env, c *pipeline.Config) {
				env.CreateTopic(env.Touchpoints, 4)
			},
			args:    func(env *pipelinetest.Env) []string { env.CreateTopic(env.Touchpoints, 4); return nil },
			code:    1,
			message: []string{`.conversions"`, "does not exist"},
		},
		{
			name:    "invalid database name",
			config:  func(env *pipelinetest.Env, c *pipeline.Config) { c.ClickHouse.Database = "bad-name;drop" },
			args:    func(env *pipelinetest.Env) []string { return []string{"--database", "bad-name;drop"} },
			code:    2,
			message: []string{"database", `"bad-name;drop"`},
		},
		{
			name:    "negative lookback",
			config:  func(env *pipelinetest.Env, c *pipeline.Config) { c.Attribution.Lookback = -time.Hour },
			args:    func(env *pipelinetest.Env) []string { return []string{"--lookback", "-1h"} },
			code:    2,
			message: []string{"lookback"},
		},
		{
			name:    "zero lookback",
			args:    func(env *pipelinetest.Env) []string { return []string{"--lookback", "0"} },
			code:    2,
			message: []string{"lookback"},
		},
		{
			name: "several invalid fields",
			config: func(env *pipelinetest.Env, c *pipeline.Config) {
				c.AllowedLateness, c.Horizon, c.Shards = -time.Second, -time.Hour, 2000
			},
			args:    func(env *pipelinetest.Env) []string { return []string{"--allowed-lateness", "-1s", "--shards", "2000"} },
			code:    2,
			message: []string{"allowed_lateness", "shards"},
		},
	}
}

// A wrong configuration fails NewRunner, and `attributor run`, at start,
// with a message that names the problem.
func TestStartupFailsWithNamedProblem(t *testing.T) {
	for _, tc := range startupCases() {
		t.Run(tc.name, func(t *testing.T) {
			env := pipelinetest.New(t, tc.opt)
			if tc.config != nil {
				cfg := env.Config()
				tc.config(env, &cfg)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				start := time.Now()
				r, err := pipeline.NewRunner(ctx, cfg)
				if err == nil {
					r.Close()
					t.Fatal("NewRunner: no error")
				}
				for _, m := range tc.message {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("NewRunner error does not contain %q: %v", m, err)
					}
				}
				if d := time.Since(start); d > 30*time.Second {
					t.Errorf("NewRunner took %s to fail", d)
				}
			}
			if tc.args != nil {
				args := append([]string{"run", "--until-caught-up", "--progress", "0"}, env.Args()...)
				args = append(args, tc.args(env)...) // a repeated flag overrides
				code, out := pipelinetest.RunBinary(t, 20*time.Second, args...)
				if code != tc.code {
					t.Errorf("attributor run: exit code %d, want %d; output:\n%s", code, tc.code, out)
				}
				for _, m := range tc.message {
					if !strings.Contains(out, m) {
						t.Errorf("attributor run: output does not contain %q:\n%s", m, out)
					}
				}
			}
		})
	}
}
