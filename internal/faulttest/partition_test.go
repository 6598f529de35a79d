package faulttest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
)

// testNet is three network namespaces, one per node, joined by a bridge
// in the test's own namespace, which reaches every node through it.
type testNet struct {
	t      *testing.T
	subnet string // "10.77.N"
	bridge string
	ns     []string
	veths  []string // this side of each node's link
}

// newTestNet makes the namespaces, or skips the test where the machine
// does not allow it.
func newTestNet(t *testing.T) *testNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the partition test needs root to make network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the partition test needs iproute2's ip command")
	}
	// Names and a subnet of their own, so that runs side by side, or
	// leftovers of a run that was killed, do not collide.
	id := rand.Uint32N(1 << 24)
	n := &testNet{t: t, subnet: freeSubnet(t), bridge: fmt.Sprintf("bfb%06x", id)}
	if out, err := exec.Command("ip", "link", "add", n.bridge, "type", "bridge").CombinedOutput(); err != nil {
		t.Skipf("cannot make a network bridge here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		// Deleting a namespace does not take its link pair with it while
		// anything still holds the namespace; delete them by name.
		for _, v := range n.veths {
			exec.Command("ip", "link", "del", v).Run()
		}
		for _, ns := range n.ns {
			exec.Command("ip", "netns", "del", ns).Run()
		}
		exec.Command("ip", "link", "del", n.bridge).Run()
	})
	n.run("addr", "add", n.subnet+".254/24", "dev", n.bridge)
	n.run("link", "set", n.bridge, "up")
	for i := range 3 {
		ns, veth, peer := fmt.Sprintf("bfn%06x-%d", id, i), fmt.Sprintf("bfv%06xx%d", id, i), fmt.Sprintf("bfp%06xx%d", id, i)
		n.run("netns", "add", ns)
		n.ns = append(n.ns, ns)
		n.run("link", "add", veth, "type", "veth", "peer", "name", peer)
		n.veths = append(n.veths, veth)
		n.run("link", "set", peer, "netns", ns)
		n.run("link", "set", veth, "master", n.bridge)
		n.run("link", "set", veth, "up")
		n.run("-n", ns, "addr", "add", n.ip(i)+"/24", "dev", peer)
		n.run("-n", ns, "link", "set", peer, "up")
		n.run("-n", ns, "link", "set", "lo", "up")
	}
	return n
}

// freeSubnet returns a 10.77.N prefix that no interface of this machine
// has an address in.
func freeSubnet(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skipf("cannot list this machine's addresses: %v", err)
	}
	for range 100 {
		prefix := fmt.Sprintf("10.77.%d.", 100+rand.IntN(150))
		used := false
		for _, a := range addrs {
			used = used || strings.HasPrefix(a.String(), prefix)
		}
		if !used {
			return strings.TrimSuffix(prefix, ".")
		}
	}
	t.Skip("no free 10.77.N.0/24 subnet for the test's network")
	return ""
}

func (n *testNet) run(args ...string) {
	n.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// ip returns node i's address.
func (n *testNet) ip(i int) string { return fmt.Sprintf("%s.%d", n.subnet, i+1) }

// cut drops all traffic between nodes i and j (both ways); heal undoes it.
// The test itself still reaches both.
func (n *testNet) cut(i, j int) {
	n.run("-n", n.ns[i], "route", "add", "blackhole", n.ip(j))
	n.run("-n", n.ns[j], "route", "add", "blackhole", n.ip(i))
}

func (n *testNet) heal(i, j int) {
	n.run("-n", n.ns[i], "route", "del", "blackhole", n.ip(j))
	n.run("-n", n.ns[j], "route", "del", "blackhole", n.ip(i))
}

// TestPartitionCutsOffTheLeader cuts the node that leads the MAIL stream
// off from the other two under a steady stream of letters, then heals the
// partition. The majority elects a new leader and goes on acknowledging
// posts; a client that reaches only the cut-off node gets no
// acknowledgement; after healing, every node serves the same log and no
// letter acknowledged as posted is lost or opened twice.
func TestPartitionCutsOffTheLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three relay processes in network namespaces")
	}
	n := newTestNet(t)
	c := launch(t, func(i int) (string, string) { return n.ip(i) + ":8443", n.ip(i) + ":6222" }, n.ns)
	wash, teh := c.party("washington"), c.party("tehran")
	c.connect(wash, teh)

	victim := c.mailLeader(0)
	// geneva reaches the relay only through the node about to be cut off.
	only := c.dir.Descriptor
	only.URL, only.URLs = c.urls[victim], nil
	geneva, err := client.Init(client.InitOptions{Dir: filepath.Join(c.base, "geneva"), Party: "geneva", Device: "dev-geneva",
		Passphrase: "amber tunnel quiet walnut", WorkFactor: 10, AllowWeakWorkFactor: true, Relay: only}, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer geneva.Close()
	if err := c.admin(-1).Admit(context.Background(), "geneva", geneva.Roster().Raw); err != nil {
		t.Fatal(err)
	}
	c.connect(geneva, teh)

	ctx, stop := context.WithCancel(context.Background())
	recvCtx, stopRecv := context.WithCancel(context.Background())
	defer stopRecv()
	tr := newTraffic()
	var wg sync.WaitGroup
	wg.Go(func() { tr.send(ctx, wash, "tehran", 20*time.Millisecond) })
	wg.Go(func() { tr.receive(recvCtx, teh) })
	time.Sleep(2 * time.Second)

	cutAt := time.Now()
	for j := range 3 {
		if j != victim {
			n.cut(victim, j)
		}
	}
	t.Logf("cut %s, the leader of MAIL, off from the other nodes", c.confs[victim].Node)
	sctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	_, _, err = geneva.Send(sctx, client.Outgoing{To: "tehran", Subject: "through the minority", Precedence: envelope.Flash, Body: []byte("?")})
	cancel()
	if err == nil {
		t.Error("a node cut off from the majority acknowledged a letter")
	}
	pause, resumed := tr.pauseAround(cutAt)
	for !resumed && time.Since(cutAt) < 20*time.Second {
		time.Sleep(100 * time.Millisecond)
		pause, resumed = tr.pauseAround(cutAt)
	}
	if !resumed {
		t.Fatal("posting did not resume through the majority within 20 s")
	}

	// Once the cut-off node knows it has no quorum, it refuses at once (503),
	// so that a client moves on to another node instead of waiting.
	time.Sleep(time.Until(cutAt.Add(quorumKnownLost)))
	sctx, cancel = context.WithTimeout(context.Background(), 3*time.Second)
	_, _, err = geneva.Send(sctx, client.Outgoing{To: "tehran", Subject: "through the minority, later", Precedence: envelope.Flash, Body: []byte("?")})
	cancel()
	var refused *client.RelayError
	if !errors.As(err, &refused) || refused.Status != http.StatusServiceUnavailable {
		t.Errorf("a node cut off for %v answered a post with %v, want a 503 refusal", quorumKnownLost, err)
	}

	for j := range 3 {
		if j != victim {
			n.heal(victim, j)
		}
	}
	time.Sleep(2 * time.Second)
	stop()
	if !tr.waitDelivered(t, 30*time.Second) {
		// Tell a letter that is stored but not in the mailbox from one
		// that is gone.
		for _, id := range tr.missing() {
			_, err := teh.Receive(context.Background(), id)
			t.Errorf("letter %s acknowledged as posted was not delivered; fetching it by id: %v", id, err)
		}
	}
	stopRecv()
	wg.Wait()
	tr.checkOpenedOnce(t)
	t.Logf("%d letters acknowledged (%d opened from their event), %d posts failed, %d listed again after delivery; write pause %v",
		len(tr.posted), tr.inline, tr.failures, tr.relisted, pause)
	// A silent partition takes longer to notice than a dead process: the
	// routes' pings must go unanswered first.
	if pause > partitionPauseLimit {
		t.Errorf("write pause %v, want at most %v", pause, partitionPauseLimit)
	}
	c.waitSameLog(30 * time.Second)
}

// partitionPauseLimit bounds the write pause when the leader is cut off:
// route pings (1.5 s), an election (1 to 1.8 s) and the request timeout
// of the post caught in flight (2 s).
const partitionPauseLimit = 6 * time.Second

// quorumKnownLost is when a cut-off node has surely noticed that it lacks
// a quorum: routes closed after 1.5 s, then the relay's 3 s of grace and a
// check every 0.5 s.
const quorumKnownLost = 6 * time.Second
