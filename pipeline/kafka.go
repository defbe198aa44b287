package pipeline

import "github.com/attributor/attributor/pipeline/source"

// The Kafka side's settings and `attributor topics`, from pipeline/source.
type (
	TopicsConfig  = source.TopicsConfig
	TopicState    = source.TopicState
	TopicsReport  = source.TopicsReport
	KafkaSecurity = source.KafkaSecurity
	TLSOptions    = source.TLSOptions
)

// SASL mechanisms.
const (
	SASLPlain       = source.SASLPlain
	SASLScramSHA256 = source.SASLScramSHA256
	SASLScramSHA512 = source.SASLScramSHA512
)

// CheckTopics reports the topics' state and every problem (see
// source.CheckTopics).
var CheckTopics = source.CheckTopics

// CreateTopics creates the missing topics (see source.CreateTopics).
var CreateTopics = source.CreateTopics

// RepartitionTopic is the internal topic of a consumer group (see
// source.RepartitionTopic).
var RepartitionTopic = source.RepartitionTopic

// Defaults of the Kafka side (source.Default*), shown by the flags.
const (
	DefaultBroker           = source.DefaultBroker
	DefaultTouchpointsTopic = source.DefaultTouchpointsTopic
	DefaultConversionsTopic = source.DefaultConversionsTopic
	DefaultSpendTopic       = source.DefaultSpendTopic
	DefaultIdentitiesTopic  = source.DefaultIdentitiesTopic
	DefaultDLQTopic         = source.DefaultDLQTopic
	DefaultGroup            = source.DefaultGroup
)
