package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkPost measures Post against raw JetStream publishing of the same
// 1 KiB payload on the same embedded server, so with the same durability:
// sync=always fsyncs before every ack, sync=none is JetStream's default
// (fsync every 2 minutes). For each setting it runs, in this order:
//
//	raw-sync         per-message publish, waiting for each ack, from 16 goroutines
//	raw-async        per-message async publish from one goroutine, then wait for all acks
//	raw-batch100     atomic batches of 100 from one goroutine, one batch in flight
//	post/c=N         Post from N goroutines: a Lookup, then a MAIL and a BOX
//	                 write, each group-committed with concurrent posts
//	post-nobatch/c=N the same with group commit off (CommitMin > CommitBatch):
//	                 every message published on its own, as before group commit
//
// and reports msgs/s; the post runs also report their ratio to raw-async.
// With 16 clients too few posts meet for a batch to pay (see CommitMin), so
// Post publishes message by message; with 256 they are group-committed.
func BenchmarkPost(b *testing.B) {
	for _, mode := range []struct {
		name   string
		noSync bool
	}{{"sync=always", false}, {"sync=none", true}} {
		b.Run(mode.name, func(b *testing.B) {
			s := openStore(b, Config{NoSync: mode.noSync, InlineLimit: DefaultInlineLimit})
			_, err := s.JetStream().CreateOrUpdateStream(context.Background(), jetstream.StreamConfig{
				Name: "RAW", Subjects: []string{"raw.>"}, Storage: jetstream.FileStorage, AllowAtomicPublish: true,
			})
			if err != nil {
				b.Fatal(err)
			}
			nobatch := openStore(b, Config{NoSync: mode.noSync, InlineLimit: DefaultInlineLimit, CommitMin: MaxCommitBatch + 1})
			var async float64
			b.Run("raw-sync", func(b *testing.B) { benchRawSync(b, s) })
			b.Run("raw-async", func(b *testing.B) { async = benchRawAsync(b, s) })
			b.Run("raw-batch100", func(b *testing.B) { benchRawBatch(b, s, 100) })
			b.Run("post/c=16", func(b *testing.B) { benchPost(b, s, 16, async) })
			b.Run("post/c=256", func(b *testing.B) { benchPost(b, s, 256, async) })
			b.Run("post-nobatch/c=256", func(b *testing.B) { benchPost(b, nobatch, 256, async) })
		})
	}
}

var benchData = bytes.Repeat([]byte{0xAB}, 1024)

func reportRate(b *testing.B) float64 {
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "msgs/s")
	return rate
}

var benchNext atomic.Uint64 // letter ids, unique across runs

// benchPost posts from about clients goroutines at once.
func benchPost(b *testing.B, s *Store, clients int, async float64) {
	sum := sha256.Sum256(benchData)
	header := bytes.Repeat([]byte{0xCD}, 200)
	b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
	b.SetBytes(int64(len(benchData)))
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			n := benchNext.Add(1)
			p := Post{ID: fmt.Sprintf("%032x", n), From: "alice", To: fmt.Sprintf("p%d", n%16),
				Precedence: uint8(n % 4), Header: header, Body: bytes.NewReader(benchData),
				BodySize: int64(len(benchData)), BodySHA256: sum, Time: time.Now()}
			if _, err := s.Post(ctx, p); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if rate := reportRate(b); async > 0 {
		b.ReportMetric(rate/async, "x-raw-async")
	}
}

func benchRawSync(b *testing.B, s *Store) {
	js := s.JetStream()
	var next atomic.Uint64
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.SetBytes(int64(len(benchData)))
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := js.Publish(ctx, fmt.Sprintf("raw.%d", next.Add(1)%16), benchData); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

func benchRawAsync(b *testing.B, s *Store) float64 {
	var failed atomic.Int64
	js, err := jetstream.New(s.Conn(), jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) {
		failed.Add(1)
	}))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchData)))
	for i := range b.N {
		if _, err := js.PublishAsync(fmt.Sprintf("raw.%d", i%16), benchData); err != nil {
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
	return reportRate(b)
}

// benchRawBatch publishes atomic batches of size messages (the last one
// shorter), each with the batch headers on core NATS, waiting for the ack
// of each batch's commit message before the next batch.
func benchRawBatch(b *testing.B, s *Store, size int) {
	nc := s.Conn()
	b.SetBytes(int64(len(benchData)))
	for start, n := 0, 0; start < b.N; start, n = start+size, n+1 {
		count := min(size, b.N-start)
		id := fmt.Sprintf("bench-%d-%d", b.N, n)
		for i := range count {
			m := nats.NewMsg(fmt.Sprintf("raw.%d", (start+i)%16))
			m.Data = benchData
			m.Header.Set(hdrBatchID, id)
			m.Header.Set(hdrBatchSeq, strconv.Itoa(i+1))
			if i < count-1 {
				if err := nc.PublishMsg(m); err != nil {
					b.Fatal(err)
				}
				continue
			}
			m.Header.Set(hdrBatchCommit, "1")
			reply, err := nc.RequestMsg(m, 10*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			var ack struct {
				Error *jetstream.APIError `json:"error"`
				Count int                 `json:"count"`
			}
			if err := json.Unmarshal(reply.Data, &ack); err != nil || ack.Error != nil || ack.Count != count {
				b.Fatalf("batch ack %s: %v", reply.Data, err)
			}
		}
	}
	reportRate(b)
}
