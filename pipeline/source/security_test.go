package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKafkaSecurityValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		sec  KafkaSecurity
		want string // substring of the error; "" for none
	}{
		{"plaintext", KafkaSecurity{}, ""},
		{"plain", KafkaSecurity{SASLMechanism: SASLPlain, SASLUsername: "u", SASLPassword: "hunter2"}, ""},
		{"scram-256", KafkaSecurity{SASLMechanism: SASLScramSHA256, SASLUsername: "u", SASLPassword: "hunter2"}, ""},
		{"scram-512", KafkaSecurity{SASLMechanism: SASLScramSHA512, SASLUsername: "u", SASLPassword: "hunter2"}, ""},
		{"unknown mechanism", KafkaSecurity{SASLMechanism: "gssapi", SASLUsername: "u"}, "kafka_sasl_mechanism"},
		{"no user", KafkaSecurity{SASLMechanism: SASLPlain, SASLPassword: "hunter2"}, "kafka_sasl_username"},
		{"ca without tls", KafkaSecurity{TLS: TLSOptions{CAFile: "ca.pem"}}, "kafka_tls"},
		{"missing ca", KafkaSecurity{TLS: TLSOptions{Enabled: true, CAFile: "/nonexistent/ca.pem"}}, "kafka_tls_ca"},
		{"cert without key", KafkaSecurity{TLS: TLSOptions{Enabled: true, CertFile: "c.pem"}}, "kafka_tls_cert and kafka_tls_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.sec.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("validate = %v, want an error naming %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error shows the password: %v", err)
			}
			if s := tc.sec.String(); strings.Contains(s, "hunter2") {
				t.Fatalf("String() shows the password: %s", s)
			}
		})
	}
}

func TestTLSOptionsLoadsCA(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (TLSOptions{Enabled: true, CAFile: bad}).Config("clickhouse"); err == nil || !strings.Contains(err.Error(), "clickhouse_tls_ca: no PEM certificate") {
		t.Fatalf("a CA file without a certificate: %v, want an error naming clickhouse_tls_ca", err)
	}
	c, err := (TLSOptions{Enabled: true, ServerName: "ch.internal"}).Config("clickhouse")
	if err != nil || c == nil || c.ServerName != "ch.internal" || c.MinVersion == 0 {
		t.Fatalf("TLS with system roots: %+v, %v", c, err)
	}
	if c, err := (TLSOptions{}).Config("clickhouse"); c != nil || err != nil {
		t.Fatalf("TLS off: %+v, %v; want nil, nil", c, err)
	}
}
