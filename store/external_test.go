package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// externalServer starts a real nats-server with JetStream listening on
// 127.0.0.1, as an operator's existing NATS would be, and returns its URL.
func externalServer(t *testing.T) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), SyncAlways: true, NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns.ClientURL()
}

// TestExternalNATS uses an existing NATS server over TCP instead of the
// embedded one: posts are stored, found and kept across reopening.
func TestExternalNATS(t *testing.T) {
	url := externalServer(t)
	ctx := context.Background()
	s, err := Open(ctx, Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	p := newPost(1, "alice", "bob", 0, []byte("over tcp"))
	mustPost(t, s, p)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got, err := s2.Lookup(ctx, p.ID); err != nil || got.To != "bob" {
		t.Fatalf("after reopening: %v %+v", err, got)
	}
	if pending, err := s2.Pending(ctx, "bob"); err != nil || len(pending) != 1 {
		t.Fatalf("pending after reopening: %v %d", err, len(pending))
	}
	if _, err := s2.Post(ctx, p); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("repost: %v", err)
	}
	if _, err := Open(ctx, Config{URL: url, Replicas: 9}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("9 replicas: %v", err)
	}
	if _, err := Open(ctx, Config{URL: "nats://127.0.0.1:1"}); err == nil {
		t.Fatal("connected to nothing")
	}
}

// TestExternalNATSNamedStores runs two stores on one external NATS, as two
// relay processes would: each keeps its own crash checkpoint, and each
// sees the letters the other posted. A name needs a URL and a valid form.
func TestExternalNATSNamedStores(t *testing.T) {
	url := externalServer(t)
	ctx := context.Background()
	a, err := Open(ctx, Config{URL: url, Name: "relay-a"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, Config{URL: url, Name: "relay-b"})
	if err != nil {
		t.Fatal(err)
	}
	pa, pb := newPost(1, "alice", "bob", 0, []byte("via a")), newPost(2, "alice", "bob", 0, []byte("via b"))
	mustPost(t, a, pa)
	mustPost(t, b, pb)
	// a waits for its own filings only; b's is waited for here.
	waitFiled(t, b, "bob")
	if pending, err := a.Pending(ctx, "bob"); err != nil || len(pending) != 2 {
		t.Fatalf("pending through a: %v %d", err, len(pending))
	}
	for _, s := range []*Store{a, b} {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Open(ctx, Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, key := range []string{"checkpoint.relay-a", "checkpoint.relay-b"} {
		if _, err := c.meta.Get(ctx, key); err != nil {
			t.Errorf("checkpoint %s: %v", key, err)
		}
	}
	for _, cfg := range []Config{{Dir: t.TempDir(), Name: "x"}, {URL: url, Name: "Relay A"}} {
		if _, err := Open(ctx, cfg); !errors.Is(err, ErrInvalid) {
			t.Errorf("Open(%+v) = %v, want ErrInvalid", cfg, err)
		}
	}
}

// externalCluster starts n real nats-servers with JetStream, listening on
// 127.0.0.1 and joined by routes, as an operator's NATS cluster would be.
// It returns the servers and a URL naming them all.
func externalCluster(t *testing.T, n int) ([]*server.Server, string) {
	t.Helper()
	routes := freeAddrs(t, n)
	var urls []*url.URL
	for _, r := range routes {
		urls = append(urls, &url.URL{Scheme: "nats", Host: r})
	}
	servers := make([]*server.Server, n)
	var clients []string
	for i := range servers {
		_, port, _ := net.SplitHostPort(routes[i])
		p, _ := strconv.Atoi(port)
		ns, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("e%d", i+1), Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
			JetStream: true, StoreDir: t.TempDir(), SyncAlways: true,
			Cluster: server.ClusterOpts{Name: "external", Host: "127.0.0.1", Port: p}, Routes: urls,
		})
		if err != nil {
			t.Fatal(err)
		}
		ns.Start()
		t.Cleanup(func() {
			ns.Shutdown()
			ns.WaitForShutdown()
		})
		servers[i] = ns
	}
	for _, ns := range servers {
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats-server did not start")
		}
		clients = append(clients, ns.ClientURL())
	}
	return servers, strings.Join(clients, ",")
}

// TestExternalNATSCluster keeps the store in an external three-server NATS
// cluster: the streams get three replicas without being told, the
// cluster's state and quorum are reported as on an embedded cluster, and
// a store left with one server of three reports no quorum. A cluster of
// two servers cannot hold three replicas, and says so; streams made there
// with one replica keep it when a store opens them without saying.
func TestExternalNATSCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nats-servers")
	}
	servers, url := externalCluster(t, 3)
	ctx := context.Background()
	octx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	s, err := Open(octx, Config{URL: url, Name: "relay-a"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Replicated() || s.Node() != "relay-a" {
		t.Fatalf("replicated %v, node %q", s.Replicated(), s.Node())
	}
	mustPost(t, s, newPost(1, "alice", "bob", 0, []byte("replicated")))
	state, err := s.ClusterState(ctx)
	if err != nil || len(state) != 5 {
		t.Fatalf("cluster state: %v %+v", err, state)
	}
	for _, sr := range state {
		if len(sr.Replicas) != 3 {
			t.Errorf("stream %s: %+v, want 3 replicas", sr.Stream, sr.Replicas)
		}
	}
	if err := s.Quorate(ctx); err != nil {
		t.Fatalf("a whole cluster: %v", err)
	}
	servers[0].Shutdown()
	servers[1].Shutdown()
	alone := time.Now()
	for !errors.Is(s.Quorate(ctx), ErrNoQuorum) {
		if time.Since(alone) > 30*time.Second {
			t.Fatal("a store left with one server of three still reports a quorum")
		}
		time.Sleep(200 * time.Millisecond)
	}

	t.Logf("no quorum reported after %v", time.Since(alone))
	// Two servers cannot hold three replicas; streams made with one
	// replica keep it.
	_, two := externalCluster(t, 2)
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := Open(tctx, Config{URL: two}); !errors.Is(err, ErrTooFewServers) {
		t.Fatalf("three replicas on two servers: %v", err)
	}
	for _, replicas := range []int{1, 0} {
		s, err := Open(tctx, Config{URL: two, Replicas: replicas})
		if err != nil {
			t.Fatalf("Replicas %d: %v", replicas, err)
		}
		if s.Replicated() {
			t.Errorf("Replicas %d: the streams were scaled to %d replicas", replicas, s.cfg.Replicas)
		}
		s.Close()
	}
}
