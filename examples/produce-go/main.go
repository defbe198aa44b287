// Command produce-go produces NDJSON events from stdin to a Kafka topic the
// way the attributor needs them: each keyed by its attribution key
// (user_id, else anonymous_id) and partitioned as the Java client does
// (murmur2), so that a user's touchpoints and conversions land in the same
// partition number of their two topics. It is the Go client example of
// README.md's "Bring your own events":
//
//	go run ./examples/produce-go --brokers 127.0.0.1:9092 --topic conversions < conversions.ndjson
//
// The two lines that matter in a producer of your own are the key and the
// balancer (kafka-go's default, and its Hash balancer, are not murmur2).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated Kafka brokers")
	topic := flag.String("topic", "", "topic to produce to")
	flag.Parse()
	if *topic == "" {
		fmt.Fprintln(os.Stderr, "produce-go: --topic is required")
		os.Exit(2)
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(strings.Split(*brokers, ",")...),
		Topic:        *topic,
		Balancer:     &kafka.Murmur2Balancer{}, // the Java client's partitioner: same key, same partition
		RequiredAcks: kafka.RequireAll,         // kafka-go's default is fire and forget
		BatchTimeout: 10 * time.Millisecond,
	}
	defer w.Close()
	var msgs []kafka.Message
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; in.Scan(); line++ {
		b := []byte(strings.TrimSpace(in.Text()))
		if len(b) == 0 {
			continue
		}
		var ev struct {
			UserID      string `json:"user_id"`
			AnonymousID string `json:"anonymous_id"`
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			fmt.Fprintf(os.Stderr, "produce-go: line %d: %v\n", line, err)
			os.Exit(1)
		}
		key := ev.UserID // the attribution key
		if key == "" {
			key = ev.AnonymousID
		}
		msgs = append(msgs, kafka.Message{Key: []byte(key), Value: b})
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "produce-go: %v\n", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		fmt.Fprintf(os.Stderr, "produce-go: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "produced %d events to %s\n", len(msgs), *topic)
}
