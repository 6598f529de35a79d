package testrelay

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"brieftraeger/envelope"
	"brieftraeger/internal/tlspin"
	"brieftraeger/store"
)

// StartCluster starts a relay as Start does, whose store is node "n1" of a
// cluster of three JetStream nodes in this process, joined by routes over
// mutual TLS on 127.0.0.1. Nodes "n2" and "n3" are bare stores (no relay
// in front of them). Every stream is replicated on the three nodes (R3),
// so a letter is acknowledged only once a quorum of them has stored it,
// each with o.Store's durability. The cluster runs with FastFailover.
// It returns the world and the three stores, the relay's first; all stop
// when the test ends.
func StartCluster(t testing.TB, o Options) (*World, []*store.Store) {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	cert, err := tlspin.ClientCertificate(key)
	if err != nil {
		t.Fatal(err)
	}
	routes := make([]string, 3)
	for i := range routes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		routes[i] = ln.Addr().String()
		ln.Close()
	}
	node := func(i int) *store.ClusterConfig {
		return &store.ClusterConfig{Node: fmt.Sprintf("n%d", i+1), Listen: routes[i], Routes: routes, TLS: cert, FastFailover: true}
	}
	// Nodes n2 and n3 open while Start opens n1: each waits for a quorum.
	nodes := make([]*store.Store, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := 1; i < 3; i++ {
		cfg := o.Store
		cfg.Dir, cfg.BodyHash, cfg.Cluster = t.TempDir(), envelope.NewDigest, node(i)
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			nodes[i], errs[i] = store.Open(ctx, cfg)
		})
	}
	// Registered before Start's own clean-up, so it runs after it: the
	// relay and n1 stop first.
	t.Cleanup(func() {
		wg.Wait()
		var closing sync.WaitGroup
		for _, s := range nodes[1:] {
			if s != nil {
				closing.Go(func() { s.Close() })
			}
		}
		closing.Wait()
	})
	o.Store.Cluster = node(0)
	w := Start(t, o)
	wg.Wait()
	for i := 1; i < 3; i++ {
		if errs[i] != nil {
			t.Fatalf("cluster node n%d: %v", i+1, errs[i])
		}
	}
	nodes[0] = w.Store
	return w, nodes
}
