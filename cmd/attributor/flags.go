package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/attributor/attributor/pipeline"
)

// envFlags registers flags whose defaults can come from environment
// variables, and names the variable in each flag's help. It backs the
// standard flag package with what a person needs (see cli.go): durations
// with days, flags printed as --flag in groups on stdout, a one-line hint on
// a flag error. An empty env registers a flag without a variable.
type envFlags struct {
	fs   *flag.FlagSet
	errs []string

	group  string            // the group of the flags registered from now on ("": Other)
	groups map[string]string // flag name -> group
	envs   map[string]string // flag name -> environment variable
	seq    []string          // the groups in the order Group named them
}

// Group puts the flags registered from now on, through e or straight on
// its FlagSet, into the help's group called name, and returns e so that a
// registration can start a group inline: e.Group("ClickHouse").String(...).
// Flags registered before any Group are listed under "Other".
func (e *envFlags) Group(name string) *envFlags {
	e.sweep()
	e.group = name
	e.seq = append(e.seq, name)
	return e
}

// sweep assigns the flags registered since the last call to the current
// group.
func (e *envFlags) sweep() {
	if e.groups == nil {
		e.groups = map[string]string{}
	}
	e.fs.VisitAll(func(f *flag.Flag) {
		if _, ok := e.groups[f.Name]; !ok {
			e.groups[f.Name] = e.group
		}
	})
}

func (e *envFlags) note(name, env string) {
	e.sweep()
	if env != "" {
		if e.envs == nil {
			e.envs = map[string]string{}
		}
		e.envs[name] = env
	}
}

func (e *envFlags) lookup(env string) (string, bool) {
	if env == "" {
		return "", false
	}
	v, ok := os.LookupEnv(env)
	return v, ok && v != ""
}

func (e *envFlags) String(name, env, def, usage string) *string {
	if v, ok := e.lookup(env); ok {
		def = v
	}
	p := e.fs.String(name, def, usage)
	e.note(name, env)
	return p
}

// Duration registers a duration flag that also takes days: 30d, 1d12h,
// 1.5d (see parseDuration).
func (e *envFlags) Duration(name, env string, def time.Duration, usage string) *time.Duration {
	if v, ok := e.lookup(env); ok {
		d, err := parseDuration(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Sprintf("%s: %v", env, err))
		} else {
			def = d
		}
	}
	p := new(time.Duration)
	*p = def
	e.fs.Var((*durationValue)(p), name, usage)
	e.note(name, env)
	return p
}

func (e *envFlags) Int(name, env string, def int, usage string) *int {
	if v, ok := e.lookup(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Sprintf("%s: %v", env, err))
		} else {
			def = n
		}
	}
	p := e.fs.Int(name, def, usage)
	e.note(name, env)
	return p
}

func (e *envFlags) Float(name, env string, def float64, usage string) *float64 {
	if v, ok := e.lookup(env); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			e.errs = append(e.errs, fmt.Sprintf("%s: %v", env, err))
		} else {
			def = f
		}
	}
	p := e.fs.Float64(name, def, usage)
	e.note(name, env)
	return p
}

func (e *envFlags) Bool(name, env string, def bool, usage string) *bool {
	if v, ok := e.lookup(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Sprintf("%s: %v", env, err))
		} else {
			def = b
		}
	}
	p := e.fs.Bool(name, def, usage)
	e.note(name, env)
	return p
}

// Size registers a size flag (see parseSize), unset unless the flag or env
// gives a value.
func (e *envFlags) Size(name, env, usage string) *sizeFlag {
	f := &sizeFlag{}
	if v, ok := e.lookup(env); ok {
		if err := f.Set(v); err != nil {
			e.errs = append(e.errs, fmt.Sprintf("%s: %v", env, err))
		}
	}
	e.fs.Var(f, name, usage)
	e.note(name, env)
	return f
}

// Secret reads a secret from an environment variable or from the file named
// by the variable with a _FILE suffix. Secrets have no flag, so that they
// never show in a process list.
func secret(env string) (string, error) {
	if v, ok := os.LookupEnv(env); ok && v != "" {
		return v, nil
	}
	if path, ok := os.LookupEnv(env + "_FILE"); ok && path != "" {
		b, err := readFileLimited(path, maxSecretFile)
		if err != nil {
			return "", fmt.Errorf("%s_FILE: %w", env, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", nil
}

// maxSecretFile bounds a password file: a secret is a line, not a file to
// load whole whatever its size (a _FILE naming /dev/zero would otherwise
// fill memory).
const maxSecretFile = 64 << 10

// readFileLimited reads the file at path, or fails when it holds more than
// limit bytes.
func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// tlsFlags are the TLS options of one service, prefixed by its name.
type tlsFlags struct {
	enabled, insecure         *bool
	ca, cert, key, serverName *string
}

func addTLSFlags(e *envFlags, service, envPrefix string) *tlsFlags {
	return &tlsFlags{
		enabled:    e.Bool(service+"-tls", envPrefix+"_TLS", false, "connect to "+service+" over TLS"),
		ca:         e.String(service+"-tls-ca", envPrefix+"_TLS_CA", "", "PEM `file` of CAs trusted for "+service+" (default: system roots)"),
		cert:       e.String(service+"-tls-cert", envPrefix+"_TLS_CERT", "", "client certificate PEM `file` for "+service+" (mutual TLS)"),
		key:        e.String(service+"-tls-key", envPrefix+"_TLS_KEY", "", "client key PEM `file` for "+service+" (mutual TLS)"),
		serverName: e.String(service+"-tls-server-name", envPrefix+"_TLS_SERVER_NAME", "", "server name to verify in "+service+"'s certificate"),
		insecure:   e.Bool(service+"-tls-insecure-skip-verify", envPrefix+"_TLS_INSECURE_SKIP_VERIFY", false, "accept any "+service+" server certificate (testing only)"),
	}
}

func (t *tlsFlags) options() pipeline.TLSOptions {
	return pipeline.TLSOptions{Enabled: *t.enabled, CAFile: *t.ca, CertFile: *t.cert, KeyFile: *t.key, ServerName: *t.serverName, InsecureSkipVerify: *t.insecure}
}

// kafkaSecurityFlags are Kafka's TLS and SASL options. The SASL password
// comes from ATTRIBUTOR_KAFKA_SASL_PASSWORD or the file named by
// ATTRIBUTOR_KAFKA_SASL_PASSWORD_FILE, never from a flag.
func addKafkaSecurityFlags(e *envFlags) func() (pipeline.KafkaSecurity, error) {
	e.Group("Kafka security")
	tls := addTLSFlags(e, "kafka", "ATTRIBUTOR_KAFKA")
	mech := e.String("kafka-sasl-mechanism", "ATTRIBUTOR_KAFKA_SASL_MECHANISM", "", "SASL `mechanism`: plain, scram-sha-256 or scram-sha-512 (off when empty)")
	user := e.String("kafka-sasl-user", "ATTRIBUTOR_KAFKA_SASL_USER", "", "SASL `user`; the password comes from ATTRIBUTOR_KAFKA_SASL_PASSWORD or ATTRIBUTOR_KAFKA_SASL_PASSWORD_FILE")
	return func() (pipeline.KafkaSecurity, error) {
		pw, err := secret("ATTRIBUTOR_KAFKA_SASL_PASSWORD")
		if err != nil {
			return pipeline.KafkaSecurity{}, err
		}
		return pipeline.KafkaSecurity{TLS: tls.options(), SASLMechanism: *mech, SASLUsername: *user, SASLPassword: pw}, nil
	}
}
