package source

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// TLSOptions describe a TLS client. The zero value means plaintext.
type TLSOptions struct {
	Enabled            bool
	CAFile             string // PEM bundle of trusted CAs; system roots when empty
	CertFile, KeyFile  string // client certificate (mutual TLS), both or neither
	ServerName         string // overrides the name checked in the server certificate
	InsecureSkipVerify bool   // for tests only: accept any server certificate
}

// Config builds the tls.Config, or nil when TLS is off. Errors name the
// option at fault, never a secret.
func (o TLSOptions) Config(prefix string) (*tls.Config, error) {
	if !o.Enabled {
		if o.CAFile != "" || o.CertFile != "" || o.KeyFile != "" {
			return nil, fmt.Errorf("%s_tls: CA or certificate files given but TLS is not enabled", prefix)
		}
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName, InsecureSkipVerify: o.InsecureSkipVerify}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s_tls_ca: %w", prefix, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s_tls_ca: no PEM certificate in %s", prefix, o.CAFile)
		}
		c.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, fmt.Errorf("%s_tls_cert and %s_tls_key: give both or neither", prefix, prefix)
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s_tls_cert: %w", prefix, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// SASL mechanisms.
const (
	SASLPlain       = "plain"
	SASLScramSHA256 = "scram-sha-256"
	SASLScramSHA512 = "scram-sha-512"
)

// KafkaSecurity is how the attributor authenticates to Kafka.
type KafkaSecurity struct {
	TLS           TLSOptions
	SASLMechanism string // "", plain, scram-sha-256 or scram-sha-512
	SASLUsername  string
	SASLPassword  string // never logged or put in an error
}

// String hides the password.
func (k KafkaSecurity) String() string {
	return fmt.Sprintf("tls=%v sasl=%q user=%q", k.TLS.Enabled, k.SASLMechanism, k.SASLUsername)
}

func (k KafkaSecurity) mechanism() (sasl.Mechanism, error) {
	switch k.SASLMechanism {
	case "":
		return nil, nil
	case SASLPlain:
		return plain.Mechanism{Username: k.SASLUsername, Password: k.SASLPassword}, nil
	case SASLScramSHA256, SASLScramSHA512:
		algo := scram.SHA256
		if k.SASLMechanism == SASLScramSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, k.SASLUsername, k.SASLPassword)
		if err != nil {
			return nil, fmt.Errorf("kafka_sasl: %s: invalid username or password", k.SASLMechanism)
		}
		return m, nil
	}
	return nil, fmt.Errorf("kafka_sasl_mechanism: must be %s, %s or %s, got %q", SASLPlain, SASLScramSHA256, SASLScramSHA512, k.SASLMechanism)
}

func (k KafkaSecurity) Validate() error {
	if k.SASLMechanism != "" && k.SASLUsername == "" {
		return fmt.Errorf("kafka_sasl_username: required with kafka_sasl_mechanism %q", k.SASLMechanism)
	}
	if _, err := k.mechanism(); err != nil {
		return err
	}
	_, err := k.TLS.Config("kafka")
	return err
}

// Conn is what every Kafka client of the runner is built from.
type Conn struct {
	tls  *tls.Config
	sasl sasl.Mechanism
}

func NewConn(k KafkaSecurity) (Conn, error) {
	t, err := k.TLS.Config("kafka")
	if err != nil {
		return Conn{}, err
	}
	m, err := k.mechanism()
	if err != nil {
		return Conn{}, err
	}
	return Conn{tls: t, sasl: m}, nil
}

func (c Conn) Dialer() *kafka.Dialer {
	return &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: c.tls, SASLMechanism: c.sasl}
}

func (c Conn) Transport() *kafka.Transport {
	return &kafka.Transport{DialTimeout: 10 * time.Second, TLS: c.tls, SASL: c.sasl}
}
