package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/internal/api"
	"brieftraeger/internal/tlspin"
	"brieftraeger/relay"
	"brieftraeger/store"
)

// nodeEnv carries a node's configuration to the child process.
const nodeEnv = "BRIEF_FAULTTEST_NODE"

// nodeConfig is one relay node's configuration.
type nodeConfig struct {
	Dir, StoreDir, Listen, AddrFile string
	Node, Cluster                   string
	Routes                          []string
}

// TestMain runs this binary as a relay node when nodeEnv is set.
func TestMain(m *testing.M) {
	if c := os.Getenv(nodeEnv); c != "" {
		os.Exit(runNode(c))
	}
	os.Exit(m.Run())
}

func runNode(conf string) int {
	var c nodeConfig
	if err := json.Unmarshal([]byte(conf), &c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	d, err := relay.Load(c.Dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	err = relay.Serve(ctx, d, relay.Options{
		Listen: c.Listen, StoreDir: c.StoreDir,
		Cluster: &store.ClusterConfig{Node: c.Node, Listen: c.Cluster, Routes: c.Routes, FastFailover: true},
		Logger:  nodeLogger(),
		Ready:   func(addr string) { os.WriteFile(c.AddrFile, []byte(addr+"\n"), 0o644) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// cluster is three relay node processes sharing one relay folder.
type cluster struct {
	t     *testing.T
	base  string
	dir   *relay.Dir
	confs []nodeConfig
	procs []*exec.Cmd
	urls  []string
	netns []string // network namespace of each node, or nil
}

// startCluster makes a relay folder and starts its three nodes on
// 127.0.0.1, 127.0.0.2 and 127.0.0.3.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	return launch(t, func(i int) (string, string) {
		ip := fmt.Sprintf("127.0.0.%d", i+1)
		return freePort(t, ip), freePort(t, ip)
	}, nil)
}

// launch makes a relay folder and starts three nodes: node i listens for
// clients and routes at the addresses addrs gives, and runs inside the
// network namespace netns[i] if netns is not nil.
func launch(t *testing.T, addrs func(i int) (web, route string), netns []string) *cluster {
	t.Helper()
	c := &cluster{t: t, base: t.TempDir(), netns: netns}
	var routes []string
	for i := range 3 {
		web, route := addrs(i)
		c.urls = append(c.urls, "https://"+web)
		routes = append(routes, route)
		c.confs = append(c.confs, nodeConfig{
			Dir: filepath.Join(c.base, "relay"), StoreDir: filepath.Join(c.base, fmt.Sprintf("n%d", i+1)),
			Listen: web, AddrFile: filepath.Join(c.base, fmt.Sprintf("n%d.addr", i+1)),
			Node: fmt.Sprintf("n%d", i+1), Cluster: route,
		})
	}
	for i := range c.confs {
		c.confs[i].Routes = routes
	}
	hosts := []string{"127.0.0.1"}
	for _, u := range c.urls {
		h, _, _ := net.SplitHostPort(strings.TrimPrefix(u, "https://"))
		hosts = append(hosts, h)
	}
	var err error
	if c.dir, err = relay.Init(filepath.Join(c.base, "relay"), "swiss", c.urls, hosts); err != nil {
		t.Fatal(err)
	}
	c.procs = make([]*exec.Cmd, 3)
	for i := range c.confs {
		c.start(i)
	}
	for i := range c.confs {
		c.waitListening(i)
	}
	t.Cleanup(func() {
		defer func(start time.Time) { t.Logf("nodes stopped in %v", time.Since(start)) }(time.Now())
		defer c.logsIfFailed()
		for _, p := range c.procs {
			if p != nil {
				p.Process.Signal(syscall.SIGTERM)
			}
		}
		for _, p := range c.procs {
			if p != nil {
				p.Wait()
			}
		}
	})
	return c
}

// keepLogsEnv names the folder a failed test's logs and data are copied to.
const keepLogsEnv = "BRIEF_FAULTTEST_LOGS"

// logsIfFailed prints the last lines of each node's log if the test
// failed, and copies the whole test folder (logs, data) to the folder that
// BRIEF_FAULTTEST_LOGS names, if set.
func (c *cluster) logsIfFailed() {
	if !c.t.Failed() {
		return
	}
	if keep := os.Getenv(keepLogsEnv); keep != "" {
		os.RemoveAll(keep)
		os.CopyFS(keep, os.DirFS(c.base))
	}
	for _, conf := range c.confs {
		b, _ := os.ReadFile(filepath.Join(c.base, conf.Node+".log"))
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		c.t.Logf("last lines of %s's log:\n%s", conf.Node, strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
}

func freePort(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s (the fault tests need 127.0.0.0/8 on loopback): %v", ip, err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start starts node i as a process of this test binary.
func (c *cluster) start(i int) {
	c.t.Helper()
	os.Remove(c.confs[i].AddrFile)
	conf, _ := json.Marshal(c.confs[i])
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if c.netns != nil {
		// ip netns exec execs the binary: the process is the node.
		cmd = exec.Command("ip", "netns", "exec", c.netns[i], os.Args[0], "-test.run=^$")
	}
	cmd.Env = append(os.Environ(), nodeEnv+"="+string(conf), "GOTRACEBACK=all")
	logf, err := os.OpenFile(filepath.Join(c.base, c.confs[i].Node+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.procs[i] = cmd
}

// dumpLines is how much of a hung node's goroutine dump a failure shows.
const dumpLines = 150

// firstGoroutines returns log up to n lines into its goroutine dump, if
// it has one.
func firstGoroutines(log []byte, n int) []byte {
	at := bytes.Index(log, []byte("\ngoroutine "))
	if at < 0 {
		return log
	}
	lines := bytes.SplitAfter(log[at:], []byte("\n"))
	return append(log[:at:at], bytes.Join(lines[:min(n, len(lines))], nil)...)
}

// waitListening waits until node i listens.
func (c *cluster) waitListening(i int) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(c.confs[i].AddrFile); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A node that hangs while it starts: its goroutines tell where. The
	// Go runtime writes them to the node's log on SIGQUIT. One that died
	// has no goroutines; its process state says so.
	pid := c.procs[i].Process.Pid
	state, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	c.procs[i].Process.Signal(syscall.SIGQUIT)
	time.Sleep(time.Second)
	log, _ := os.ReadFile(filepath.Join(c.base, c.confs[i].Node+".log"))
	c.t.Fatalf("node %s did not listen within 60 s (process %d: %q); its log, to %d lines into its goroutines (all of them in %s.log, kept with %s):\n%s",
		c.confs[i].Node, pid, state, dumpLines, c.confs[i].Node, keepLogsEnv, firstGoroutines(log, dumpLines))
}

// kill kills node i with SIGKILL.
func (c *cluster) kill(i int) {
	c.t.Helper()
	if err := c.procs[i].Process.Kill(); err != nil {
		c.t.Fatal(err)
	}
	c.procs[i].Wait()
	c.procs[i] = nil
}

// admin returns an admin client of node i, or of the whole cluster if i
// is negative (it fails over, and rides out 503s while the new cluster
// elects its leaders).
func (c *cluster) admin(i int) *client.Admin {
	c.t.Helper()
	url := ""
	if i >= 0 {
		url = c.urls[i]
	}
	a, err := client.NewAdmin(c.dir.Descriptor, url, c.dir.AdminKey)
	if err != nil {
		c.t.Fatal(err)
	}
	return a
}

// party creates and admits a party whose relay is the whole cluster.
func (c *cluster) party(name string) *client.Party {
	c.t.Helper()
	p, err := client.Init(client.InitOptions{Dir: filepath.Join(c.base, name), Party: name, Device: "dev-" + name,
		Passphrase: "amber tunnel quiet walnut", WorkFactor: 10, AllowWeakWorkFactor: true, Relay: c.dir.Descriptor}, client.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(p.Close)
	if err := c.admin(-1).Admit(context.Background(), name, p.Roster().Raw); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// connect opens the channel between a and b and pins their roots.
func (c *cluster) connect(a, b *client.Party) {
	c.t.Helper()
	ctx := context.Background()
	if err := c.admin(-1).OpenChannel(ctx, a.Name(), b.Name()); err != nil {
		c.t.Fatal(err)
	}
	for _, x := range [][2]*client.Party{{a, b}, {b, a}} {
		if _, err := x[0].AddContact(ctx, x[1].Name(), x[1].Roster().Root); err != nil {
			c.t.Fatal(err)
		}
	}
}

var leaderLine = regexp.MustCompile(`brief_cluster_stream_leader\{stream="MAIL",node="(n\d)"\} 1`)

// mailLeader returns the index of the node that leads the MAIL stream,
// asking node ask.
func (c *cluster) mailLeader(ask int) int {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		m, err := c.admin(ask).Metrics(context.Background())
		if err == nil {
			if sub := leaderLine.FindSubmatch(m); sub != nil {
				for i, conf := range c.confs {
					if conf.Node == string(sub[1]) {
						return i
					}
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatal("no node leads MAIL")
	return -1
}

// checkpoint fetches node i's latest log checkpoint.
func (c *cluster) checkpoint(i int) ([]byte, error) {
	conf, err := tlspin.ClientTLSConfig(c.dir.AdminKey, c.dir.Descriptor.TLSSHA256)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: conf}}
	resp, err := hc.Get(c.urls[i] + api.PathLogCheckpoint)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s", resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// nodeLogger logs to the node's stderr (its log file) at info level.
func nodeLogger() *slog.Logger { return slog.New(slog.NewTextHandler(os.Stderr, nil)) }
