package source

// Defaults of the Kafka side. pipeline.Config and TopicsConfig take them,
// and cmd/attributor shows them in its flags.
const (
	DefaultBroker           = "127.0.0.1:9092"
	DefaultTouchpointsTopic = "touchpoints"
	DefaultConversionsTopic = "conversions"
	DefaultSpendTopic       = "ad_spend"
	DefaultIdentitiesTopic  = "identities"
	DefaultDLQTopic         = "attributor.dlq"
	DefaultGroup            = "attributor"
	DefaultMaxMessageBytes  = 1 << 20
)

// def sets *s to v when it is empty.
func def(s *string, v string) {
	if *s == "" {
		*s = v
	}
}
