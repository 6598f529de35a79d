package relay_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"brieftraeger/envelope"
	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/internal/testrelay"
	"brieftraeger/relay"
	"brieftraeger/store"
	"brieftraeger/tlog"
)

// The ingest benchmarks post letters over the real HTTPS API to a relay on
// durable JetStream (fsync before every acknowledgement), next to raw
// JetStream publishes of the same payload size to the same server with
// the same durability. docs/BENCHMARKS.md records the ratios.

// ingestClients are the numbers of concurrent clients the ingest
// benchmarks run with: a few busy devices, and many.
var ingestClients = []int{16, 256}

// postIngest posts b.N envelopes of ks's party, sealed in w, to the relay
// (or floor) at url from c concurrent clients, and reports as parallel
// does.
func postIngest(b *testing.B, w *world, ks *identity.Keystore, url string, c int) {
	envs := testrelay.Envelopes(b, w.wash, ks, "tehran", b.N)
	hc := w.DeviceClient(b, ks)
	defer hc.CloseIdleConnections()
	testrelay.Parallel(b, c, b.N, func(i int) error { return testrelay.PostFramed(hc, url, ks, envs[i]) })
}

// settle waits until the relay's log has taken in what the last
// sub-benchmark posted, so that the next measurement, a ceiling say, does
// not pay for that work.
func settle(b *testing.B, st *store.Store) { testrelay.SettleLog(b, st) }

func BenchmarkIngest(b *testing.B) {
	w := newWorld(b, 1<<20)
	ks := w.Keys(w.wash)
	size := len(testrelay.Envelopes(b, w.wash, ks, "tehran", 1)[0])
	js := w.Store.JetStream()
	ceilingStream(b, js, 1)
	payload := make([]byte, size)
	// The same relay with its log integration held off, to show what the
	// log costs.
	nolog := newWorld(b, 1<<20)
	relay.PauseLog(nolog.Relay, true)
	nks := nolog.Keys(nolog.wash)
	for _, c := range ingestClients {
		b.Run(fmt.Sprintf("relay-https/c=%d", c), func(b *testing.B) { postIngest(b, w, ks, w.URL, c) })
		settle(b, w.Store)
		b.Run(fmt.Sprintf("relay-https-nolog/c=%d", c), func(b *testing.B) { postIngest(b, nolog, nks, nolog.URL, c) })
		publishCeilings(b, "", c, js, payload)
	}
}

// ceilingStream creates the stream, with replicas replicas, that the raw
// publishes of the ceilings go to.
func ceilingStream(b *testing.B, js jetstream.JetStream, replicas int) {
	b.Helper()
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: "CEILING", Subjects: []string{"ceiling.>"}, Storage: jetstream.FileStorage, Replicas: replicas,
	}); err != nil {
		b.Fatal(err)
	}
}

// publishCeilings runs the raw JetStream ceilings of an ingest benchmark
// at concurrency c: payload published to ceiling.x, one publish awaited
// at a time per client, and asynchronously.
func publishCeilings(b *testing.B, prefix string, c int, js jetstream.JetStream, payload []byte) {
	ctx := context.Background()
	b.Run(fmt.Sprintf("%sjetstream-publish/c=%d", prefix, c), func(b *testing.B) {
		testrelay.Parallel(b, c, b.N, func(i int) error {
			_, err := js.Publish(ctx, "ceiling.x", payload)
			return err
		})
	})
	b.Run(fmt.Sprintf("%sjetstream-publish-async/c=%d", prefix, c), func(b *testing.B) {
		testrelay.Parallel(b, c, b.N, func(i int) error {
			f, err := js.PublishAsync("ceiling.x", payload)
			if err != nil {
				return err
			}
			select {
			case <-f.Ok():
				return nil
			case err := <-f.Err():
				return err
			}
		})
	})
}

// BenchmarkPostToDelivered posts letters at a fixed rate of 1,000 a second
// while tehran's device listens on its event stream, which carries each
// (small) envelope. It reports the p50 and p99 time from the start of the
// post until the device has the envelope.
func BenchmarkPostToDelivered(b *testing.B) { postToDelivered(b, newWorld(b, 1<<20)) }

// postToDelivered posts letters from washington at 1,000 a second while
// tehran's device listens on its event stream and takes each envelope
// from its event (or fetches it, were it too large to come in one), and
// reports p50 and p99 from the start of each post until the device has
// the envelope.
func postToDelivered(b *testing.B, w *world) {
	ks, tk := w.Keys(w.wash), w.Keys(w.teh)
	envs := testrelay.Envelopes(b, w.wash, ks, "tehran", b.N)
	ids := make(map[string]int, b.N)
	for i, e := range envs {
		h, _ := envelope.ReadHeader(bytes.NewReader(e))
		ids[h.ID.String()] = i
	}
	var mu sync.Mutex
	started := make([]time.Time, b.N)
	var lat []time.Duration
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	tc := w.DeviceClient(b, tk)
	defer tc.CloseIdleConnections()
	go w.teh.Events(ctx, func() { close(ready) }, func(e api.MailboxEntry) error {
		i, ok := ids[e.ID]
		if !ok {
			return nil // a letter of an earlier round
		}
		go func() {
			// A small envelope comes in the event, as a device takes it;
			// a larger one is fetched.
			if e.Envelope != nil {
				if h, err := envelope.ReadHeader(bytes.NewReader(e.Envelope)); err != nil || h.ID.String() != e.ID {
					return
				}
			} else if _, err := testrelay.DeviceDo(tc, http.MethodGet, w.URL+api.PathEnvelopes+"/"+e.ID, tk, nil); err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, time.Since(started[i]))
			if len(lat) == b.N {
				close(done)
			}
		}()
		return nil
	})
	<-ready
	c := w.DeviceClient(b, ks)
	defer c.CloseIdleConnections()
	atRate(b, func(i int) error {
		mu.Lock()
		started[i] = time.Now()
		mu.Unlock()
		return testrelay.PostFramed(c, w.URL, ks, envs[i])
	})
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		b.Fatalf("only %d of %d letters arrived", len(lat), b.N)
	}
	b.StopTimer()
	reportLatency(b, lat)
}

// atRate runs job for 0 to b.N-1, starting one every millisecond, each on
// its own goroutine, and waits for them all.
func atRate(b *testing.B, job func(i int) error) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var wg sync.WaitGroup
	b.ResetTimer()
	for i := range b.N {
		<-tick.C
		wg.Go(func() {
			if err := job(i); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
}

// reportLatency reports the p50 and p99 of lat.
func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkPostToCheckpoint posts letters at 1,000 a second and measures,
// for each, the time from the start of its post until the relay serves a
// proof of its envelope against a signed checkpoint: the delay before a
// letter is in the witnessed log.
func BenchmarkPostToCheckpoint(b *testing.B) {
	w := newWorld(b, 1<<20)
	ks := w.Keys(w.wash)
	envs := testrelay.Envelopes(b, w.wash, ks, "tehran", b.N)
	leaves := make([]string, b.N)
	for i, e := range envs {
		h, _ := envelope.ReadHeader(bytes.NewReader(e))
		leaves[i] = hexs(tlog.LeafData(tlog.KindEnvelope, h.Raw))
	}
	c := w.DeviceClient(b, ks)
	lat := make([]time.Duration, b.N)
	atRate(b, func(i int) error {
		start := time.Now()
		if err := testrelay.PostFramed(c, w.URL, ks, envs[i]); err != nil {
			return err
		}
		for time.Since(start) < 10*time.Second {
			status, err := testrelay.DeviceDo(c, http.MethodGet, w.URL+api.PathLogProof+"?leaf="+leaves[i], ks, nil)
			if err != nil {
				return err
			}
			if status == http.StatusOK {
				lat[i] = time.Since(start)
				return nil
			}
			time.Sleep(5 * time.Millisecond)
		}
		return fmt.Errorf("letter %d not in a checkpoint after 10 s", i)
	})
	b.StopTimer()
	reportLatency(b, lat)
}
