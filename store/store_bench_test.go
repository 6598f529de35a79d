package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Benchmarks of Post against raw JetStream publishing of the same 1 KiB
// payload on the same embedded server, so with the same durability:
// sync=always fsyncs before every ack, sync=none is JetStream's default
// (fsync every 2 minutes). Post does a Lookup, a MAIL publish and a BOX
// publish, so it costs about two fsynced writes per letter.

const benchParallelism = 8 // goroutines per GOMAXPROCS, like many clients posting at once

var benchModes = []struct {
	name   string
	noSync bool
}{{"sync=always", false}, {"sync=none", true}}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkPost(b *testing.B) {
	body := bytes.Repeat([]byte{0xAB}, 1024)
	sum := sha256.Sum256(body)
	header := bytes.Repeat([]byte{0xCD}, 200)
	for _, mode := range benchModes {
		s := openStore(b, Config{NoSync: mode.noSync, InlineLimit: DefaultInlineLimit})
		var next atomic.Uint64
		b.Run(mode.name, func(b *testing.B) {
			b.SetParallelism(benchParallelism)
			b.SetBytes(int64(len(body)))
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					n := next.Add(1)
					p := Post{ID: fmt.Sprintf("%032x", n), From: "alice", To: fmt.Sprintf("p%d", n%16),
						Precedence: uint8(n % 4), Header: header, Body: bytes.NewReader(body),
						BodySize: int64(len(body)), BodySHA256: sum, Time: time.Now()}
					if _, err := s.Post(ctx, p); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportRate(b)
		})
	}
}

// rawStream creates a plain stream next to the store's, on the same server.
func rawStream(b *testing.B, s *Store) {
	_, err := s.JetStream().CreateOrUpdateStream(context.Background(), jetstream.StreamConfig{
		Name: "RAW", Subjects: []string{"raw.>"}, Storage: jetstream.FileStorage,
	})
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkRawPublish(b *testing.B) {
	data := bytes.Repeat([]byte{0xAB}, 1024)
	for _, mode := range benchModes {
		s := openStore(b, Config{NoSync: mode.noSync})
		rawStream(b, s)
		js := s.JetStream()
		var next atomic.Uint64
		b.Run(mode.name, func(b *testing.B) {
			b.SetParallelism(benchParallelism)
			b.SetBytes(int64(len(data)))
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if _, err := js.Publish(ctx, fmt.Sprintf("raw.%d", next.Add(1)%16), data); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportRate(b)
		})
	}
}

func BenchmarkRawPublishAsync(b *testing.B) {
	data := bytes.Repeat([]byte{0xAB}, 1024)
	for _, mode := range benchModes {
		s := openStore(b, Config{NoSync: mode.noSync})
		rawStream(b, s)
		var failed atomic.Int64
		js, err := jetstream.New(s.Conn(), jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) {
			failed.Add(1)
		}))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(mode.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := range b.N {
				if _, err := js.PublishAsync(fmt.Sprintf("raw.%d", i%16), data); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("async publishes not acknowledged")
			}
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d async publishes failed", n)
			}
			reportRate(b)
		})
	}
}
