package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"brieftraeger/client"
	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/internal/deadline"
	"brieftraeger/relay"
	"brieftraeger/store"
)

func cmdRelay(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "relay", args, map[string]func(context.Context, *env, []string) error{
		"init": relayInit, "run": relayRun, "admit": relayAdmit, "channel": relayChannel, "channels": relayChannels,
		"metrics": relayMetrics, "admin-cert": relayAdminCert, "overdue": relayOverdue,
		"invitations": relayInvitations,
	})
}

func relayInit(_ context.Context, e *env, args []string) error {
	fs := flags(e, "relay init", "relay init --dir DIR [--name NAME] [--url URL[,URL...]] [--json]")
	dir := fs.String("dir", "", "the relay's data `folder` (created)")
	name := fs.String("name", "relay", "the relay's `name`, as it signs receipts")
	urls := fs.String("url", "https://127.0.0.1:8443", "the `URLs` parties will reach the relay at, comma-separated: one per node of a cluster; their hosts go into the certificate")
	asJSON := fs.Bool("json", false, "print the descriptor as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() > 0 {
		return usagef("brief relay init --dir DIR", "relay init needs --dir and no arguments")
	}
	if err := outsideSource("the relay folder", *dir); err != nil {
		return err
	}
	list := strings.Split(*urls, ",")
	hosts := []string{"127.0.0.1", "localhost"}
	for _, u := range list {
		host, err := urlHost(u)
		if err != nil {
			return err
		}
		hosts = append(hosts, host)
	}
	d, err := relay.Init(*dir, *name, list, hosts)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, d.Descriptor)
	}
	fmt.Fprintf(e.stdout, "relay %q created in %s\ncertificate sha256: %s\nreceipt key:        %s\n", d.Descriptor.Name, *dir, d.Descriptor.TLSSHA256, d.Descriptor.ReceiptKey)
	fmt.Fprintf(e.stdout, "hand %s to each party; start the relay with 'brief relay run --dir %s'\n", filepath.Join(*dir, "relay.json"), *dir)
	return nil
}

func urlHost(u string) (string, error) {
	rest, ok := strings.CutPrefix(u, "https://")
	if !ok || rest == "" {
		return "", usagef("", "relay URL %q must start with https://", u)
	}
	hostport, _, _ := strings.Cut(rest, "/")
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h, nil
	}
	return hostport, nil
}

func relayRun(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "relay run", "relay run --dir DIR [--listen ADDR] [--max-envelope BYTES] [--log-json] [--addr-file FILE] [--min-free BYTES] [--deadlines LIST]\n"+
		"          [--invitations any|approve|off]\n"+
		"          [--data DIR] [--nats URL [--node NAME] [--replicas N] | --node NAME --cluster ADDR --routes ADDR,... [--replicas N]]")
	dir := fs.String("dir", "", "the relay's data `folder`, made by 'brief relay init'")
	listen := fs.String("listen", "127.0.0.1:8443", "`address` to listen on; port 0 picks a free one")
	maxEnv := fs.Int64("max-envelope", relay.DefaultMaxEnvelopeBytes, "largest envelope accepted, in `bytes`")
	logJSON := fs.Bool("log-json", false, "log as JSON lines instead of text")
	addrFile := fs.String("addr-file", "", "write the listening address to `file` once listening")
	natsURL := fs.String("nats", "", "keep the relay's state in an existing NATS JetStream server or cluster at `URL` instead of the embedded one; default BRIEF_NATS_URL, which keeps credentials in the URL off the command line")
	replicas := fs.Int("replicas", 0, "replicas of every stream; default 1, or 3 with --node; with --nats, those of the streams already there, else 3 on a NATS cluster")
	data := fs.String("data", "", "the embedded JetStream's data `folder`; default DIR/jetstream")
	node := fs.String("node", "", "run as the cluster node `name` (unique in the cluster: a-z, 0-9, '-'); with --nats, this relay process's name among those sharing the NATS cluster")
	cluster := fs.String("cluster", "", "with --node: the `address` (host:port) to accept the other nodes' routes on")
	routes := fs.String("routes", "", "with --node: the route `addresses` of the cluster's nodes, comma-separated")
	minFree := fs.Int64("min-free", 0, "free disk `bytes` kept for delivering stored letters; new letters are refused below it (0: the smaller of 1 GiB and 5% of the disk; -1: none)")
	invitations := invitationPolicyFlag(fs.FlagSet)
	dl := fs.String("deadlines", "", "delivery deadlines by which letters waiting in a mailbox show as overdue to the operator, as `PRECEDENCE=DURATION,...` (default FLASH=10m,IMMEDIATE=30m,PRIORITY=3h,ROUTINE=6h)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	deadlines, err := deadline.Parse(*dl)
	if err != nil {
		return err
	}
	if err := relay.CheckInvitationPolicy(*invitations); err != nil {
		return usagef("", "--invitations: %v", err)
	}
	if *dir == "" || fs.NArg() > 0 {
		return usagef("brief relay run --dir DIR", "relay run needs --dir and no arguments")
	}
	if *maxEnv <= 0 {
		return usagef("", "--max-envelope must be positive")
	}
	if *natsURL == "" {
		*natsURL = e.getenv("BRIEF_NATS_URL")
	}
	var cc *store.ClusterConfig
	natsName := ""
	switch {
	case *natsURL != "" && (*cluster != "" || *routes != ""):
		return usagef("", "--cluster and --routes run an embedded cluster node; --nats (or BRIEF_NATS_URL) uses an external one: give one of them")
	case *natsURL != "":
		natsName = *node
	case *node != "" && (*cluster == "" || *routes == ""):
		return usagef("brief relay run --dir DIR --node n1 --cluster 10.0.0.1:6222 --routes 10.0.0.1:6222,10.0.0.2:6222,10.0.0.3:6222",
			"--node needs --cluster and --routes")
	case *node == "" && (*cluster != "" || *routes != ""):
		return usagef("", "--cluster and --routes need --node")
	case *node != "":
		cc = &store.ClusterConfig{Node: *node, Listen: *cluster, Routes: strings.Split(*routes, ","), FastFailover: true}
	}
	d, err := relay.Load(*dir)
	if err != nil {
		return err
	}
	var h slog.Handler = slog.NewTextHandler(e.stderr, nil)
	if *logJSON {
		h = slog.NewJSONHandler(e.stderr, nil)
	}
	return relay.Serve(ctx, d, relay.Options{Listen: *listen, MaxEnvelopeBytes: *maxEnv, Logger: slog.New(h),
		NATSURL: *natsURL, NATSName: natsName, Replicas: *replicas, StoreDir: *data, Cluster: cc, MinFreeBytes: *minFree,
		Deadlines:   deadlines,
		Invitations: *invitations,
		Ready: func(addr string) {
			if *addrFile != "" {
				os.WriteFile(*addrFile, []byte(addr+"\n"), 0o644)
			}
		}})
}

// adminClient parses the flags of the operator's online commands, with
// the command's own if more is not nil, and returns a client of the relay.
func adminClient(e *env, name, usage string, args []string, more ...func(*flag.FlagSet)) (*client.Admin, []string, bool, error) {
	fs := flags(e, name, usage)
	for _, m := range more {
		m(fs.FlagSet)
	}
	dir := fs.String("dir", "", "the relay's data `folder` (for the admin key and certificate pin)")
	url := fs.String("url", "", "talk to the relay node at this `URL` only; default: the nodes in the relay's descriptor, from its first URL on, moving to the next when one cannot be reached")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return nil, nil, false, err
	}
	if *dir == "" {
		return nil, nil, false, usagef("brief "+usage, "%s needs --dir", name)
	}
	d, err := relay.Load(*dir)
	if err != nil {
		return nil, nil, false, err
	}
	a, err := client.NewAdmin(d.Descriptor, *url, d.AdminKey)
	return a, fs.Args(), *asJSON, err
}

func relayAdmit(ctx context.Context, e *env, args []string) error {
	a, rest, asJSON, err := adminClient(e, "relay admit", "relay admit --dir DIR [--url URL] [--json] ROSTER-FILE", args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("the roster file is in the party's folder, named 'roster'", "relay admit takes one roster file")
	}
	raw, err := os.ReadFile(rest[0])
	if err != nil {
		return fmt.Errorf("failed to read roster: %w", err)
	}
	ros, err := identity.DecodeRoster(raw)
	if err != nil {
		return err
	}
	if err := a.Admit(ctx, ros.Party, raw); err != nil {
		return err
	}
	if asJSON {
		return printJSON(e.stdout, map[string]any{"party": ros.Party, "serial": ros.Serial, "root_fingerprint": identity.Fingerprint(ros.Root)})
	}
	fmt.Fprintf(e.stdout, "admitted %q (roster #%d, root %s)\n", ros.Party, ros.Serial, identity.Fingerprint(ros.Root))
	return nil
}

func relayChannel(ctx context.Context, e *env, args []string) error {
	a, rest, asJSON, err := adminClient(e, "relay channel", "relay channel --dir DIR [--url URL] [--json] PARTY PARTY", args)
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return usagef("", "relay channel takes two party names")
	}
	if err := a.OpenChannel(ctx, rest[0], rest[1]); err != nil {
		return err
	}
	if asJSON {
		return printJSON(e.stdout, map[string]string{"a": rest[0], "b": rest[1]})
	}
	fmt.Fprintf(e.stdout, "channel %s <-> %s open\n", rest[0], rest[1])
	return nil
}

func relayChannels(ctx context.Context, e *env, args []string) error {
	var interval time.Duration
	a, rest, asJSON, err := adminClient(e, "relay channels", "relay channels --dir DIR [--url URL] [--interval DURATION] [--json]", args,
		func(fs *flag.FlagSet) {
			fs.DurationVar(&interval, "interval", time.Minute, "the heartbeat `interval` the lights are judged by")
		})
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usagef("", "relay channels takes no arguments")
	}
	if interval <= 0 {
		return usagef("", "--interval must be positive")
	}
	list, err := a.Channels(ctx, interval)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(e.stdout, list)
	}
	for _, c := range list {
		a, b := printable(c.A, false), printable(c.B, false)
		fmt.Fprintf(e.stdout, "%s <-> %s  %s  last %s->%s %s, %s->%s %s%s\n", a, b, printable(strings.ToUpper(c.Light), false),
			a, b, clock(c.LastAB), b, a, clock(c.LastBA), overdueNote(c))
	}
	fmt.Fprintf(e.stdout, "(envelopes each way as the relay's log holds them, judged at a %s interval; 'brief relay overdue' lists the overdue letters)\n", interval)
	return nil
}

// overdueNote says how many letters of a channel are overdue each way, if
// any are.
func overdueNote(c api.Channel) string {
	if c.OverdueUnknown {
		return "  OVERDUE unknown (the relay could not count them)"
	}
	var parts []string
	a, b := printable(c.A, false), printable(c.B, false)
	if c.OverdueAB > 0 {
		parts = append(parts, fmt.Sprintf("%s->%s %d", a, b, c.OverdueAB))
	}
	if c.OverdueBA > 0 {
		parts = append(parts, fmt.Sprintf("%s->%s %d", b, a, c.OverdueBA))
	}
	if len(parts) == 0 {
		return ""
	}
	return "  OVERDUE " + strings.Join(parts, ", ")
}

func relayOverdue(ctx context.Context, e *env, args []string) error {
	a, rest, asJSON, err := adminClient(e, "relay overdue", "relay overdue --dir DIR [--url URL] [--json]", args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usagef("", "relay overdue takes no arguments")
	}
	list, err := a.Overdue(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(e.stdout, list)
	}
	for _, o := range list {
		fmt.Fprintf(e.stdout, "%s -> %s  %-9s  %d overdue, the oldest posted %s, due %s\n", printable(o.From, false), printable(o.To, false),
			printable(o.Precedence, false), o.Count,
			o.OldestPostedAt.Local().Format(time.DateTime), o.OldestDue.Local().Format(time.DateTime))
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stdout, "no letters waiting in a mailbox past the relay's delivery deadlines")
		return nil
	}
	fmt.Fprintln(e.stdout, "(heartbeats and test letters are IMMEDIATE letters to the relay, which cannot tell them apart)")
	return nil
}

func relayMetrics(ctx context.Context, e *env, args []string) error {
	a, rest, asJSON, err := adminClient(e, "relay metrics", "relay metrics --dir DIR [--url URL]", args)
	if err != nil {
		return err
	}
	if asJSON {
		return usagef("scrape /metrics with Prometheus, or parse its text format", "relay metrics prints the Prometheus text format; it has no --json")
	}
	if len(rest) != 0 {
		return usagef("", "relay metrics takes no arguments")
	}
	m, err := a.Metrics(ctx)
	if err != nil {
		return err
	}
	// The Prometheus text format is lines of printable text: anything
	// else the relay sends is shown escaped.
	_, err = io.WriteString(e.stdout, printable(string(m), true))
	return err
}

func clock(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Local().Format("15:04:05")
}
