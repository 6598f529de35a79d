package relay_test

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"brieftraeger/internal/api"
	"brieftraeger/internal/testrelay"
	"brieftraeger/store"
)

// The cluster benchmarks run the relay on node n1 of a three-node cluster
// in this process (internal/testrelay.StartCluster): every stream is R3 and
// every node fsyncs before it acknowledges (SyncAlways), so a letter is
// acknowledged once the leader and one follower have it on disk. Next to
// it, in the same run, raw JetStream publishes of the same size to an R3
// stream on the same cluster, with the same durability. docs/BENCHMARKS.md
// records the ratios.

// newClusterWorld is newWorld on a three-node cluster. It returns the
// world and the cluster's stores, the relay's (n1) first.
func newClusterWorld(b *testing.B) (*world, []*store.Store) {
	b.Helper()
	cw, nodes := testrelay.StartCluster(b, testrelay.Options{MaxEnvelopeBytes: 1 << 20})
	// The relay integrates the log only while its node leads LOG, and
	// admitting a party waits for its roster to be in the log.
	leadOn(b, cw.Store, "n1")
	w := &world{World: cw, t: b}
	w.wash, w.teh, w.mos = w.Party("washington"), w.Party("tehran"), w.Party("moscow")
	w.Connect(w.wash, w.teh)
	w.Pin(w.mos, w.teh)
	return w, nodes
}

// leadOn moves the leadership of the named streams, or of every stream if
// none are named, to the cluster node called node, and waits until it
// leads them all. Where the leaders are decides how many route hops a
// write takes, so each figure says where they were.
func leadOn(b *testing.B, st *store.Store, node string, streams ...string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js := st.JetStream()
	if len(streams) == 0 {
		for name := range js.StreamNames(ctx).Name() {
			streams = append(streams, name)
		}
	}
	req, _ := json.Marshal(map[string]any{"placement": map[string]string{"preferred": node}})
	for _, name := range streams {
		for {
			s, err := js.Stream(ctx, name)
			if err != nil {
				b.Fatal(err)
			}
			info, err := s.Info(ctx)
			if err == nil && info.Cluster != nil && info.Cluster.Leader == node {
				break
			}
			// "Already leader" and elections in progress are answered with
			// errors; the loop looks again.
			st.Conn().Request("$JS.API.STREAM.LEADER.STEPDOWN."+name, req, 5*time.Second)
			select {
			case <-ctx.Done():
				b.Fatalf("%s does not lead %s", node, name)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// listen holds tehran's event stream open, taking each event (with its
// envelope) and doing nothing with it, until the returned func is called.
func listen(b *testing.B, w *world) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		w.teh.Events(ctx, func() { close(ready) }, func(api.MailboxEntry) error { return nil })
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		b.Fatal("the event stream did not open")
	}
	return func() { cancel(); <-done }
}

// BenchmarkClusterIngest is BenchmarkIngest on a three-node cluster. With
// leader=n1 the relay's node leads every stream (each write goes from
// there to the two followers); with leader=n2 another node leads the
// record and mailbox streams and the ceiling's, so each write first
// crosses a route to its leader. The log's stream stays led by n1, whose
// relay integrates it. relay-https-listened is relay-https with the
// recipient's device on the event stream, which then carries every
// envelope, and the filing of each letter checks for a delivered receipt
// filed elsewhere (store.Watch). https-floor posts the same envelopes to
// floorServer, the least any relay does per letter: a second ceiling.
// https-floor-entry adds a mailbox entry written as the relay writes it,
// to a second stream after the letter; https-floor-entry-batched writes
// letter and entry in one atomic batch to one stream, a layout the relay
// cannot take (docs/BENCHMARKS.md).
func BenchmarkClusterIngest(b *testing.B) {
	w, _ := newClusterWorld(b)
	ks := w.Keys(w.wash)
	size := len(testrelay.Envelopes(b, w.wash, ks, "tehran", 1)[0])
	js := w.Store.JetStream()
	ceilingStream(b, js, 3)
	payload := make([]byte, size)
	floorStreams(b, js)
	device := ks.Sign.Public().(ed25519.PublicKey)
	floors := []struct {
		name string
		*floor
	}{
		{"https-floor", floorServer(b, w, device, noEntry)},
		{"https-floor-entry", floorServer(b, w, device, entryApart)},
		{"https-floor-entry-batched", floorServer(b, w, device, entryInBatch)},
	}
	for _, leader := range []string{"n1", "n2"} {
		leadOn(b, w.Store, leader, "MAIL", "BOX", "RCPT", "CEILING", "FLOOR", "FLOORBOX")
		for _, c := range ingestClients {
			b.Run(fmt.Sprintf("leader=%s/relay-https/c=%d", leader, c), func(b *testing.B) { postIngest(b, w, ks, w.URL, c) })
			settle(b, w.Store)
			b.Run(fmt.Sprintf("leader=%s/relay-https-listened/c=%d", leader, c), func(b *testing.B) {
				defer listen(b, w)()
				postIngest(b, w, ks, w.URL, c)
			})
			settle(b, w.Store)
			for _, f := range floors {
				b.Run(fmt.Sprintf("leader=%s/%s/c=%d", leader, f.name, c), func(b *testing.B) { postIngest(b, w, ks, f.url, c) })
				f.idle()
			}
			publishCeilings(b, "leader="+leader+"/", c, js, payload)
		}
	}
}

// BenchmarkClusterPostToDelivered is BenchmarkPostToDelivered on a
// three-node cluster whose streams n1, the relay's node, leads: letters
// posted at 1,000 a second, each taken from its event; p50 and p99 from
// the start of the post until the device has the envelope. Its ceiling,
// jetstream-r3, publishes messages of the same size at the same rate to
// an R3 stream, each awaiting its ack as a post does, and takes the time
// from the start of each publish until an ordered consumer on n1 receives
// it.
func BenchmarkClusterPostToDelivered(b *testing.B) {
	w, _ := newClusterWorld(b)
	js := w.Store.JetStream()
	ceilingStream(b, js, 3)
	leadOn(b, w.Store, "n1", "CEILING")
	size := len(testrelay.Envelopes(b, w.wash, w.Keys(w.wash), "tehran", 1)[0])

	b.Run("relay-https", func(b *testing.B) { postToDelivered(b, w) })
	settle(b, w.Store)

	b.Run("jetstream-r3", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Each round has its own subject, so that its consumer sees only
		// its own messages, all of them: with DeliverNew, messages
		// published before the consumer was in place on the server were
		// skipped ("only 3990 of 4000 messages arrived").
		subject := fmt.Sprintf("ceiling.lat.%d", time.Now().UnixNano())
		cons, err := js.OrderedConsumer(ctx, "CEILING", jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		if err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		started := make([]time.Time, b.N)
		var lat []time.Duration
		done := make(chan struct{})
		cc, err := cons.Consume(func(m jetstream.Msg) {
			i := int(binary.BigEndian.Uint64(m.Data()))
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, time.Since(started[i]))
			if len(lat) == b.N {
				close(done)
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Stop()
		payloads := make([][]byte, b.N)
		for i := range payloads {
			payloads[i] = make([]byte, size)
			binary.BigEndian.PutUint64(payloads[i], uint64(i))
		}
		atRate(b, func(i int) error {
			mu.Lock()
			started[i] = time.Now()
			mu.Unlock()
			_, err := js.Publish(ctx, subject, payloads[i])
			return err
		})
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			mu.Lock()
			defer mu.Unlock()
			b.Fatalf("only %d of %d messages arrived", len(lat), b.N)
		}
		b.StopTimer()
		reportLatency(b, lat)
	})
}
