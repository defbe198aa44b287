// Command misplace copies every message of some topics into new topics of
// the same partition count, each into the partition after the one its key
// hashes to (murmur2, as the Java client): input on which every event is
// away from its home, so that `attributor run` forwards all of it.
//
//	misplace --brokers B --from T1,T2 --to U1,U2
//
// It prints "metric<TAB>value" lines: messages copied.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

func main() {
	fs := flag.NewFlagSet("misplace", flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka `brokers`")
	from := fs.String("from", "", "comma-separated `topics` to copy")
	to := fs.String("to", "", "comma-separated `topics` to create and fill, one per --from topic")
	fs.Parse(os.Args[1:])
	src, dst := strings.Split(*from, ","), strings.Split(*to, ",")
	if *from == "" || len(src) != len(dst) {
		fmt.Fprintln(os.Stderr, "misplace: want as many --to topics as --from topics")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	var n int64
	for i := range src {
		c, err := copyTopic(ctx, *brokers, src[i], dst[i])
		if err != nil {
			fmt.Fprintf(os.Stderr, "misplace %s -> %s: %v\n", src[i], dst[i], err)
			os.Exit(1)
		}
		n += c
	}
	fmt.Printf("messages\t%d\n", n)
}

func copyTopic(ctx context.Context, brokers, from, to string) (int64, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers), Timeout: 10 * time.Second}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{from}})
	if err != nil {
		return 0, err
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		return 0, fmt.Errorf("topic %s: not found", from)
	}
	parts := len(meta.Topics[0].Partitions)
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: to, NumPartitions: parts, ReplicationFactor: 1}}})
	if err != nil {
		return 0, err
	}
	if err := resp.Errors[to]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return 0, err
	}
	time.Sleep(time.Second) // leaders
	murmur := &kafka.Murmur2Balancer{}
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers), Topic: to, RequiredAcks: kafka.RequireAll, BatchSize: 5000, BatchBytes: 16 << 20, BatchTimeout: 5 * time.Millisecond,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, ps ...int) int { return (murmur.Balance(m, ps...) + 1) % len(ps) }),
	}
	defer w.Close()
	var n int64
	for p := range parts {
		last, err := kafka.DialLeader(ctx, "tcp", brokers, from, p)
		if err != nil {
			return n, err
		}
		end, err := last.ReadLastOffset()
		last.Close()
		if err != nil {
			return n, err
		}
		if end == 0 {
			continue
		}
		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{brokers}, Topic: from, Partition: p, MaxBytes: 32 << 20})
		batch := make([]kafka.Message, 0, 5000)
		for {
			m, err := rd.FetchMessage(ctx)
			if err != nil {
				rd.Close()
				return n, err
			}
			batch = append(batch, kafka.Message{Key: m.Key, Value: m.Value})
			if len(batch) == cap(batch) || m.Offset+1 >= end {
				if err := w.WriteMessages(ctx, batch...); err != nil {
					rd.Close()
					return n, err
				}
				n += int64(len(batch))
				batch = batch[:0]
			}
			if m.Offset+1 >= end {
				break
			}
		}
		rd.Close()
	}
	return n, nil
}
