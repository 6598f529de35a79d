package store

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"brieftraeger/internal/tlspin"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// freeAddrs returns n free TCP addresses on 127.0.0.1.
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ln.Addr().String())
		ln.Close()
	}
	return out
}

func testCert(t testing.TB) tls.Certificate {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	cert, err := tlspin.ClientCertificate(key)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// openCluster opens three stores that form one cluster, in parallel, as
// three relay nodes starting together would.
func openCluster(t *testing.T, cert tls.Certificate) []*Store {
	t.Helper()
	routes := freeAddrs(t, 3)
	nodes := make([]*Store, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			nodes[i], errs[i] = Open(ctx, Config{Dir: t.TempDir(), InlineLimit: testInline, Logger: testLogger(), Cluster: &ClusterConfig{
				Node: fmt.Sprintf("n%d", i+1), Listen: routes[i], Routes: routes, TLS: cert, FastFailover: true,
			}})
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, s := range nodes {
			if s != nil {
				wg.Go(func() { s.Close() })
			}
		}
		wg.Wait()
	})
	for i := range nodes {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i+1, errs[i])
		}
	}
	return nodes
}

func TestClusterReplicatesAndFencesTheLog(t *testing.T) {
	start := time.Now()
	nodes := openCluster(t, testCert(t))
	ctx := context.Background()
	t.Logf("cluster formed in %v", time.Since(start))
	defer func() { t.Logf("test body took %v", time.Since(start)) }()

	st := mustPost(t, nodes[0], newPost(1, "alice", "bob", 0, []byte("one")))
	if got, err := nodes[2].Lookup(ctx, st.ID); err != nil || got.Seq != st.Seq {
		t.Fatalf("lookup on another node: %+v %v", got, err)
	}
	// A repost on another node is the same letter.
	if again, err := nodes[1].Post(ctx, newPost(1, "alice", "bob", 0, []byte("one"))); !errors.Is(err, ErrDuplicate) || again.Seq != st.Seq {
		t.Fatalf("repost on another node: %+v %v", again, err)
	}

	// The leader's answer, as a lagging replica's miss is checked against.
	if m, err := nodes[2].lastFromLeader(ctx, streamMail, mailSubject(st.ID)); err != nil || m.Sequence != st.Seq {
		t.Fatalf("message get from the leader: %+v %v", m, err)
	} else if env, err := decodeEnvelope(m.Header, m.Data); err != nil || env.ID != st.ID {
		t.Fatalf("decoding the leader's answer: %+v %v", env, err)
	}
	if _, err := nodes[2].lastFromLeader(ctx, streamMail, mailSubject(letterID(99))); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("message get of a missing letter from the leader: %v", err)
	}

	writers := 0
	for _, s := range nodes {
		if s.LogWriter() {
			writers++
		}
	}
	if writers != 1 {
		t.Fatalf("%d nodes write the log, want 1", writers)
	}
	leaf := []LogLeaf{{Data: []byte("a"), Source: LogMail, SourceSeq: st.Seq}}
	if _, err := nodes[0].AppendLog(ctx, 0, leaf); err != nil {
		t.Fatal(err)
	}
	// A node that has not seen the first append cannot append beside it.
	if _, err := nodes[1].AppendLog(ctx, 0, leaf); !errors.Is(err, ErrLogMoved) {
		t.Fatalf("second append at size 0: %v", err)
	}
	if n, err := nodes[2].LogSize(ctx); err != nil || n != 1 {
		t.Fatalf("log size seen from node 3: %d %v", n, err)
	}

	state, err := nodes[1].ClusterState(ctx)
	if err != nil || len(state) != 5 {
		t.Fatalf("cluster state: %+v %v", state, err)
	}
	for _, st := range state {
		if len(st.Replicas) != 3 || !st.Replicas[0].Leader || st.Replicas[1].Leader || st.Replicas[2].Leader {
			t.Errorf("replicas of %s: %+v", st.Stream, st.Replicas)
		}
	}
}

// TestClusterPendingAsTheLeaderHasIt: a listing read from a replica
// that is behind can hold the entry of a letter delivered meanwhile;
// Pending keeps only the entries that the leader of BOX holds.
func TestClusterPendingAsTheLeaderHasIt(t *testing.T) {
	nodes := openCluster(t, testCert(t))
	ctx := context.Background()
	a := mustPost(t, nodes[0], newPost(1, "alice", "bob", 0, []byte("one")))
	b := mustPost(t, nodes[0], newPost(2, "alice", "bob", 0, []byte("two")))
	waitFiled(t, nodes[0], "bob")
	if _, err := nodes[1].PutReceipt(ctx, b.ID, "alice", ReceiptDelivered, []byte("delivered 2")); err != nil {
		t.Fatal(err)
	}
	// The listing a replica that has not yet applied b's removal reads.
	stale := []Stored{a, b}
	if got := nodes[2].current(ctx, "bob", stale); len(got) != 1 || got[0].ID != a.ID {
		t.Fatalf("current of a stale listing: %+v, want only %s", got, a.ID)
	}
	if got, err := nodes[2].Pending(ctx, "bob"); err != nil || len(got) != 1 || got[0].ID != a.ID {
		t.Fatalf("Pending: %+v %v, want only %s", got, err, a.ID)
	}
}

// TestClusterQuorum checks that a node left alone reports no quorum, as
// /readyz uses it.
func TestClusterQuorum(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three cluster nodes")
	}
	nodes := openCluster(t, testCert(t))
	ctx := context.Background()
	if err := nodes[2].Quorate(ctx); err != nil {
		t.Fatalf("a whole cluster: %v", err)
	}
	nodes[0].Close()
	nodes[1].Close()
	alone := time.Now()
	for {
		err := nodes[2].Quorate(ctx)
		if errors.Is(err, ErrNoQuorum) {
			t.Logf("no quorum reported after %v: %v", time.Since(alone), err)
			return
		}
		if time.Since(alone) > 15*time.Second {
			t.Fatalf("a node left alone still reports a quorum: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestClusterConfigRefused(t *testing.T) {
	cert := testCert(t)
	for _, c := range []ClusterConfig{
		{Listen: "127.0.0.1:0", TLS: cert},
		{Node: "Bad Name", Listen: "127.0.0.1:0", TLS: cert},
		{Node: "n1", TLS: cert},
		{Node: "n1", Listen: "127.0.0.1:0"},
		{Node: "n1", Listen: "127.0.0.1:0", TLS: cert, Routes: []string{"no-port"}},
	} {
		dir := t.TempDir()
		if _, err := Open(context.Background(), Config{Dir: dir, Cluster: &c}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", c, err)
		}
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("BRIEF_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestRaftTimersAlias checks that the timers store/cluster.go reaches by
// go:linkname are nats-server's own: before any cluster node of this
// process tuned them they hold nats-server's defaults, after it ours.
func TestRaftTimersAlias(t *testing.T) {
	for _, v := range []struct {
		name       string
		got        time.Duration
		nats, ours time.Duration
	}{
		{"minElectionTimeout", natsMinElectionTimeout, 4 * time.Second, raftMinElection},
		{"maxElectionTimeout", natsMaxElectionTimeout, 9 * time.Second, raftMaxElection},
		{"hbInterval", natsHeartbeatInterval, time.Second, raftHeartbeat},
	} {
		if v.got != v.nats && v.got != v.ours {
			t.Errorf("%s reads %v, want nats-server's %v (or ours, %v): the go:linkname does not alias nats-server's variable", v.name, v.got, v.nats, v.ours)
		}
	}
}

// TestClusterAdmitsOnlyItsOwn checks the two doors of a cluster node: a
// NATS client without the node's token is refused at its loopback client
// port, and a server presenting another certificate gets no route.
func TestClusterAdmitsOnlyItsOwn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three cluster nodes")
	}
	nodes := openCluster(t, testCert(t))
	if nc, err := nats.Connect(nodes[0].ns.ClientURL(), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a client without the token connected to a cluster node")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("a client without the token: %v, want an authorization violation", err)
	}

	routes := nodes[0].ns.NumRoutes()
	rogue := &server.Options{ServerName: "rogue", DontListen: true, NoLog: true, NoSigs: true}
	if err := clusterOptions(rogue, &ClusterConfig{Node: "rogue", Listen: freeAddrs(t, 1)[0],
		Routes: []string{nodes[0].ns.ClusterAddr().String()}, TLS: testCert(t)}); err != nil {
		t.Fatal(err)
	}
	rs, err := server.NewServer(rogue)
	if err != nil {
		t.Fatal(err)
	}
	rs.Start()
	defer rs.Shutdown()
	time.Sleep(2 * time.Second)
	if rs.NumRoutes() != 0 || nodes[0].ns.NumRoutes() != routes {
		t.Fatalf("a server with another certificate got routes: it has %d, the node %d (was %d)", rs.NumRoutes(), nodes[0].ns.NumRoutes(), routes)
	}
}

// TestClusterSeen notes a channel's last letter through one node and reads
// it through the others, as the relay's light is shown from any node.
func TestClusterSeen(t *testing.T) {
	nodes := openCluster(t, testCert(t))
	ctx := context.Background()
	at := time.Unix(1_700_000_000, 0)
	d := Direction{"alice", "bob"}
	if err := nodes[0].NoteSeen(ctx, d, at); err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].NoteSeen(ctx, d, at.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[1:] {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			got, err := n.Seen(ctx)
			if err == nil && got[d].Equal(at) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s: %v %v, want %v", n.Node(), err, got, at)
			}
		}
	}
}
