package pipeline

import (
	"strings"
	"testing"
	"time"
)

func TestConfigDefaultsAreValid(t *testing.T) {
	if err := (Config{}).WithDefaults().Validate(); err != nil {
		t.Fatalf("the defaults are invalid: %v", err)
	}
}

// Validate names every invalid field, so that a wrong flag is found at
// once.
func TestConfigValidateNamesFields(t *testing.T) {
	for _, tc := range []struct {
		field string
		edit  func(c *Config)
	}{
		{"brokers", func(c *Config) { c.Brokers = nil }},
		{"touchpoints_topic", func(c *Config) { c.TouchpointsTopic = "" }},
		{"conversions_topic", func(c *Config) { c.ConversionsTopic = "" }},
		{"dlq_topic", func(c *Config) { c.DLQTopic = "" }},
		{"conversions_topic: same topic as touchpoints_topic", func(c *Config) { c.ConversionsTopic = c.TouchpointsTopic }},
		{"dlq_topic: same topic as", func(c *Config) { c.DLQTopic = c.ConversionsTopic }},
		{"identities_topic: same topic as spend_topic", func(c *Config) { c.IdentitiesTopic = c.SpendTopic }},
		{"group", func(c *Config) { c.Group = "" }},
		{"clickhouse", func(c *Config) { c.ClickHouse.Addr = "" }},
		{"clickhouse_compression", func(c *Config) { c.ClickHouse.Compression = "zstd" }},
		{"database", func(c *Config) { c.ClickHouse.Database = "bad-name;drop" }},
		{"database", func(c *Config) { c.ClickHouse.Database = "" }},
		{"lookback", func(c *Config) { c.Attribution.Lookback = -time.Hour }},
		{"view_window", func(c *Config) { c.Attribution.ViewWindow = -time.Hour }},
		{"half_life", func(c *Config) { c.Attribution.HalfLife = -time.Hour }},
		{"first_share", func(c *Config) { c.Attribution.FirstShare = 2 }},
		{"models", func(c *Config) { c.Attribution.Models = []string{"linear", "linear"} }},
		{"session_gap", func(c *Config) { c.SessionGap = -time.Second }},
		{"allowed_lateness", func(c *Config) { c.AllowedLateness = -time.Second }},
		{"horizon", func(c *Config) { c.Horizon = -time.Second }},
		{"horizon: must be >= allowed_lateness", func(c *Config) { c.AllowedLateness, c.Horizon = time.Hour, time.Minute }},
		{"max_future_skew: must be <= horizon", func(c *Config) { c.Horizon, c.MaxFutureSkew = time.Hour, 2*time.Hour }},
		{"max_future_skew: must be > 0", func(c *Config) { c.MaxFutureSkew = -time.Second }},
		{"flush_interval", func(c *Config) { c.FlushInterval = -time.Second }},
		{"backlog_flush_interval", func(c *Config) { c.BacklogFlushInterval = -time.Second }},
		{"commit_interval", func(c *Config) { c.CommitInterval = -time.Second }},
		{"shards", func(c *Config) { c.Shards = -1 }},
		{"shards: must be <= 1024", func(c *Config) { c.Shards = 1025 }},
		{"queue_size", func(c *Config) { c.QueueSize = -1 }},
		{"max_users", func(c *Config) { c.MaxUsers = -1 }},
		{"flush_rows", func(c *Config) { c.FlushRows = -1 }},
		{"backlog_flush_rows", func(c *Config) { c.BacklogFlushRows = -1 }},
		{"max_message_bytes", func(c *Config) { c.MaxMessageBytes = -1 }},
	} {
		c := Config{}.WithDefaults()
		tc.edit(&c)
		err := c.Validate()
		if err == nil {
			t.Errorf("%s: Validate accepted an invalid value", tc.field)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.field) && !strings.Contains(err.Error(), "\n"+tc.field) {
			t.Errorf("%s: the error does not start with the field name: %v", tc.field, err)
		}
	}
}

// Every invalid field is reported, not just the first.
func TestConfigValidateReportsAll(t *testing.T) {
	c := Config{}.WithDefaults()
	c.Group, c.Shards, c.AllowedLateness = "", 0, -time.Second
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted three invalid fields")
	}
	for _, f := range []string{"group", "shards", "allowed_lateness"} {
		if !strings.Contains(err.Error(), f+":") {
			t.Errorf("the error does not name %s: %v", f, err)
		}
	}
}

// The default compression, auto, sends ClickHouse uncompressed blocks only
// where the server is on this machine, and lz4 everywhere else.
func TestCompressionAutoOnlyOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		compression, addr string
		lz4               bool
	}{
		{"auto", "127.0.0.1:9000", false},
		{"auto", "127.0.0.2:9000", false},
		{"auto", "localhost:9000", false},
		{"auto", "LocalHost:9440", false},
		{"auto", "[::1]:9000", false},
		{"auto", "127.0.0.1", false},
		{"auto", "10.0.0.5:9000", true},
		{"auto", "clickhouse:9000", true},
		{"auto", "[2001:db8::1]:9000", true},
		{"auto", "localhost.example.com:9000", true},
		{"lz4", "127.0.0.1:9000", true},
		{"none", "10.0.0.5:9000", false},
	} {
		cfg := ClickHouseConfig{Addr: tc.addr, Compression: tc.compression}
		if got := cfg.compression() != nil; got != tc.lz4 {
			t.Errorf("compression %s to %s: lz4 %v, want %v", tc.compression, tc.addr, got, tc.lz4)
		}
	}
	if got := (Config{}).WithDefaults().ClickHouse.Compression; got != "auto" {
		t.Errorf("default compression %q, want auto", got)
	}
}
