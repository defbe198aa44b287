package pipelinetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/pipeline"
)

// Env is one test's share of the services: its own topics, consumer group
// and ClickHouse database, all removed when the test ends (kept when it
// failed and EnvKeep is set).
type Env struct {
	Services
	t testing.TB

	// Name is unique per test and run: the lower-cased test name and a
	// random suffix, safe in topic and database names.
	Name                          string
	Touchpoints, Conversions, DLQ string // topic names
	// Spend is the optional ad-spend topic, never created here: reserving
	// a name keeps the Runner off a shared "ad_spend" topic.
	Spend string
	// Identities is the optional identities topic, created only with
	// Options.Identities (then the attributor stitches); the name is
	// reserved either way, which keeps the Runner off a shared
	// "identities" topic.
	Identities string
	Group      string // consumer group
	Database   string // ClickHouse database, "t_<Name>"
	// CH is a connection for the test's own queries.
	CH driver.Conn

	logs     *testLog
	stitches bool // the identities topic was created
}

// Options shape an Env. Zero fields take the defaults noted.
type Options struct {
	// Partitions of the touchpoints topic. Default 4.
	Partitions int
	// ConversionPartitions of the conversions topic. Default Partitions.
	ConversionPartitions int
	// NoTopics leaves the input topics uncreated (their names are still
	// reserved). The dead-letter topic is never created here: the Runner
	// creates it.
	NoTopics bool
	// Identities, when > 0, creates the identities topic with that many
	// partitions (also under NoTopics): the attributor stitches. Default
	// 0: no identities topic, nothing is stitched.
	Identities int
}

// New reserves unique names for t, creates the input topics and registers
// the cleanup. It skips or fails t when the services are absent (Require).
func New(t testing.TB, opt Options) *Env {
	t.Helper()
	svc := Require(t)
	if opt.Partitions == 0 {
		opt.Partitions = 4
	}
	if opt.ConversionPartitions == 0 {
		opt.ConversionPartitions = opt.Partitions
	}
	name := uniqueName(t.Name())
	e := &Env{
		Services: svc, t: t, Name: name,
		Touchpoints: "t." + name + ".touchpoints", Conversions: "t." + name + ".conversions", DLQ: "t." + name + ".dlq",
		Spend: "t." + name + ".spend", Identities: "t." + name + ".identities",
		Group: "t." + name, Database: "t_" + name,
		logs: &testLog{t: t},
	}
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{svc.ClickHouse}, DialTimeout: 5 * time.Second, ReadTimeout: time.Minute})
	if err != nil {
		t.Fatalf("clickhouse %s: %v", svc.ClickHouse, err)
	}
	e.CH = conn
	t.Cleanup(e.cleanup)
	if !opt.NoTopics {
		e.CreateTopic(e.Touchpoints, opt.Partitions)
		e.CreateTopic(e.Conversions, opt.ConversionPartitions)
	}
	if opt.Identities > 0 {
		e.CreateTopic(e.Identities, opt.Identities)
		e.stitches = true
	}
	return e
}

// uniqueName makes a lower-case [a-z0-9_] name of at most 50 bytes from a
// test name and 8 random hex digits.
func uniqueName(test string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			if s := b.String(); s != "" && !strings.HasSuffix(s, "_") {
				b.WriteByte('_')
			}
		}
	}
	s := strings.TrimSuffix(b.String(), "_")
	s = strings.TrimPrefix(s, "test")
	s = strings.Trim(s, "_")
	if len(s) > 40 {
		s = s[:40]
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		panic(err)
	}
	return strings.Trim(s, "_") + "_" + hex.EncodeToString(rnd[:])
}

// Config returns a Runner configuration for the Env's topics, group and
// database, logging warnings and errors to the test log; quick flushes and
// commits keep the tests short.
func (e *Env) Config() pipeline.Config {
	return pipeline.Config{
		Brokers:          []string{e.Kafka},
		TouchpointsTopic: e.Touchpoints,
		ConversionsTopic: e.Conversions,
		DLQTopic:         e.DLQ,
		SpendTopic:       e.Spend,
		IdentitiesTopic:  e.Identities,
		Group:            e.Group,
		ClickHouse:       pipeline.ClickHouseConfig{Addr: e.ClickHouse, Database: e.Database},
		FlushInterval:    100 * time.Millisecond,
		CommitInterval:   200 * time.Millisecond,
		Logger:           e.logs.logger(),
	}
}

// Args returns the flags of `attributor run` for the Env.
func (e *Env) Args() []string {
	return []string{
		"--brokers", e.Kafka, "--clickhouse", e.ClickHouse, "--database", e.Database,
		"--touchpoints-topic", e.Touchpoints, "--conversions-topic", e.Conversions,
		"--dlq-topic", e.DLQ, "--spend-topic", e.Spend, "--identities-topic", e.Identities, "--group", e.Group,
	}
}

func (e *Env) cleanup() {
	e.logs.stop()
	defer e.CH.Close()
	if e.t.Failed() && getenvBool(EnvKeep) {
		e.t.Logf("kept for inspection (%s): topics %s %s %s %s, group %s, database %s", EnvKeep, e.Touchpoints, e.Conversions, e.Identities, e.DLQ, e.Group, e.Database)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.CH.Exec(ctx, "DROP DATABASE IF EXISTS "+e.Database); err != nil {
		e.t.Errorf("cleanup: drop database %s: %v", e.Database, err)
	}
	client, done := e.kafkaClient()
	defer done()
	resp, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{e.Touchpoints, e.Conversions, e.DLQ, e.Spend, e.Identities, pipeline.RepartitionTopic(e.Group)}})
	if err != nil {
		e.t.Errorf("cleanup: delete topics: %v", err)
	} else {
		for topic, err := range resp.Errors {
			if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
				e.t.Errorf("cleanup: delete topic %s: %v", topic, err)
			}
		}
	}
	// The group is empty once every member left; deleting it keeps the
	// broker's group list short. A group still in use is left alone.
	_, _ = client.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{e.Group}})
}

func getenvBool(k string) bool {
	v := strings.ToLower(strings.TrimSpace(getenv(k, "")))
	return v != "" && v != "0" && v != "false"
}

// kafkaClient returns a client with a transport of its own, and the func
// that closes it. kafka-go answers metadata requests from a per-transport
// cache refreshed every 6s, which does not know a topic that another
// transport (the Runner's) created since: a fresh transport sees it.
func (e *Env) kafkaClient() (*kafka.Client, func()) {
	tr := &kafka.Transport{DialTimeout: 5 * time.Second}
	return &kafka.Client{Addr: kafka.TCP(e.Kafka), Timeout: 15 * time.Second, Transport: tr}, tr.CloseIdleConnections
}
