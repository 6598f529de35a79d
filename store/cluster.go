package store

// Clustering: the embedded server as one node of a NATS cluster, joined
// to the others by routes, with every stream replicated on a quorum.

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
	_ "unsafe" // for go:linkname, see tuneRaft

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"brieftraeger/internal/tlspin"
)

// ClusterConfig makes the embedded server one node of a cluster. Every
// node runs the same relay (the same keys and TLS certificate) with its
// own Dir.
type ClusterConfig struct {
	// Name is the cluster's name, the same on every node; default
	// "brieftraeger".
	Name string
	// Node is this node's name, unique in the cluster; required. It also
	// keys the node's own mailbox checkpoint.
	Node string
	// Listen is the host:port this node accepts routes on; required.
	Listen string
	// Routes are the host:port route addresses of the nodes; this node's
	// own may be among them.
	Routes []string
	// TLS is the certificate every node of the cluster presents. Routes
	// run over mutual TLS and a node accepts, in either direction, only a
	// peer presenting this same certificate: holding the relay's TLS key
	// is what makes a node a member.
	TLS tls.Certificate
	// FastFailover shortens the Raft election timers of the embedded
	// server (see tuneRaft) so that a new stream leader is elected about
	// 1 to 2 seconds after the old one dies, instead of 4 to 9.
	FastFailover bool
}

// Raft timers with FastFailover: the leader sends a heartbeat every
// raftHeartbeat, and a follower that hears none for a random time between
// raftMinElection and raftMaxElection stands for election. Three missed
// heartbeats at least, so that a busy disk does not depose a live leader.
const (
	raftHeartbeat   = 250 * time.Millisecond
	raftMinElection = 1000 * time.Millisecond
	raftMaxElection = 1800 * time.Millisecond
)

// Route liveness: nats-server's default declares a silent route dead only
// after minutes.
const (
	routePingInterval = 500 * time.Millisecond
	routeMaxPingsOut  = 3
)

// nats-server keeps its Raft timers in package variables, set for its own
// tests and not configurable. They are reached here by name. If a new
// nats-server renamed them, these would not alias anything: the linker
// makes them new, zero variables. tuneRaft therefore refuses timers that
// read zero (nats-server's are never zero), and TestRaftTimersAlias checks
// that they read nats-server's defaults.
var (
	//go:linkname natsMinElectionTimeout github.com/nats-io/nats-server/v2/server.minElectionTimeout
	natsMinElectionTimeout time.Duration
	//go:linkname natsMaxElectionTimeout github.com/nats-io/nats-server/v2/server.maxElectionTimeout
	natsMaxElectionTimeout time.Duration
	//go:linkname natsHeartbeatInterval github.com/nats-io/nats-server/v2/server.hbInterval
	natsHeartbeatInterval time.Duration
)

// raftOnce guards the process-wide Raft timers: they are set once, before
// the first clustered server starts, and never while one runs.
var (
	raftOnce sync.Once
	raftErr  error
)

// tuneRaft sets the embedded nats-server's Raft timers for fast failover.
func tuneRaft() error {
	raftOnce.Do(func() {
		if natsMinElectionTimeout == 0 || natsMaxElectionTimeout == 0 || natsHeartbeatInterval == 0 {
			raftErr = errors.New("this nats-server's Raft timers were not found; fast failover is not available")
			return
		}
		natsHeartbeatInterval = raftHeartbeat
		natsMinElectionTimeout = raftMinElection
		natsMaxElectionTimeout = raftMaxElection
	})
	return raftErr
}

// clusterOptions fills the cluster part of the embedded server's options.
func clusterOptions(o *server.Options, c *ClusterConfig) error {
	if err := c.check(); err != nil {
		return err
	}
	host, port, err := splitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("%w: cluster listen address: %v", ErrInvalid, err)
	}
	o.ServerName = c.Node
	// nats-server starts its routes only once its client listener is up,
	// so a cluster node listens for clients, on a random loopback port
	// behind a random token that only this process's connection knows.
	o.DontListen, o.Host, o.Port = false, "127.0.0.1", server.RANDOM_PORT
	o.Authorization = rand.Text()
	o.Cluster = server.ClusterOpts{
		Name: c.name(), Host: host, Port: port,
		TLSConfig: routeTLS(c.TLS), TLSTimeout: 5,
		ConnectRetries: -1, // keep trying a node that is down: it comes back
		// A route to a node that is cut off (no reset, just silence) is
		// closed after routePingInterval*routeMaxPingsOut, and with it the
		// node's interest: requests stop going to its replicas.
		PingInterval: routePingInterval, MaxPingsOut: routeMaxPingsOut,
	}
	for _, r := range c.Routes {
		o.Routes = append(o.Routes, &url.URL{Scheme: "nats-route", Host: r})
	}
	if c.FastFailover {
		if err := tuneRaft(); err != nil {
			return err
		}
	}
	return nil
}

func (c *ClusterConfig) name() string {
	if c.Name == "" {
		return "brieftraeger"
	}
	return c.Name
}

func (c *ClusterConfig) check() error {
	switch {
	case !validNode(c.Node):
		return fmt.Errorf("%w: a cluster node needs a name of 1 to 32 letters a-z, digits and '-'", ErrInvalid)
	case c.Listen == "":
		return fmt.Errorf("%w: a cluster node needs a route address to listen on", ErrInvalid)
	case len(c.TLS.Certificate) == 0:
		return fmt.Errorf("%w: a cluster node needs the relay's TLS certificate for its routes", ErrInvalid)
	}
	for _, r := range c.Routes {
		if _, _, err := splitHostPort(r); err != nil {
			return fmt.Errorf("%w: route %q: %v", ErrInvalid, r, err)
		}
	}
	return nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	return host, port, nil
}

// routeTLS is the routes' mutual TLS: both ends present cert and accept
// only a peer whose certificate is the same one.
func routeTLS(cert tls.Certificate) *tls.Config {
	pin := tlspin.CertSHA256(cert.Certificate[0])
	verify := func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 || tlspin.CertSHA256(raw[0]) != pin {
			return errors.New("route peer does not hold the relay's certificate")
		}
		return nil
	}
	return &tls.Config{
		MinVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{cert},
		ClientAuth:            tls.RequireAnyClientCert,
		InsecureSkipVerify:    true, // replaced by the pin check in verify
		VerifyPeerCertificate: verify,
	}
}

func validNode(name string) bool {
	if name == "" || len(name) > 32 {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// setupWhenReady opens the streams and buckets (openWhenReady), then
// repairs BOX with no deadline of its own: after a crash under load the
// replay may take longer than any one try to open. Where the streams are
// shared (a cluster, an external NATS), a repair that fails because a
// stream just opened has no leader yet to answer is started again (it is
// idempotent), until ctx ends.
func (s *Store) setupWhenReady(ctx context.Context) error {
	if err := s.openWhenReady(ctx); err != nil {
		return err
	}
	var logged time.Time
	for {
		err := s.repair(ctx)
		if err == nil || !s.cfg.shared() || !unanswered(err) && !unavailable(err) || ctx.Err() != nil {
			return err
		}
		if time.Since(logged) >= 2*time.Second {
			s.log.Info("waiting for the cluster to repair the mailbox", "err", err)
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// openWhenReady runs open. On a cluster only the meta leader creates or
// updates the streams and buckets (nats-server loses the answers to
// concurrent creations of one stream from several nodes); the other nodes
// wait until they exist and open them. A node that has just started waits
// first for the nodes to elect a meta leader, which needs a quorum of
// them up. On an external NATS, open is tried again while JetStream does
// not answer (a cluster still electing its meta leader), for at most
// externalWait.
func (s *Store) openWhenReady(ctx context.Context) error {
	if !s.cfg.shared() {
		return s.open(ctx, true)
	}
	if s.cfg.Cluster == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, externalWait)
		defer cancel()
	}
	var logged time.Time
	for {
		var err error
		create := s.cfg.Cluster == nil || s.ns.JetStreamIsLeader()
		if create || s.ns.JetStreamIsCurrent() {
			actx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if s.cfg.Replicas == 0 {
				s.cfg.Replicas, err = s.defaultReplicas(actx)
			}
			if err == nil {
				err = s.open(actx, create)
			}
			cancel()
			switch {
			case err == nil:
				return nil
			case s.cfg.Cluster == nil && !s.electing(err):
				if errors.Is(err, nats.ErrNoResponders) {
					return fmt.Errorf("%w (is JetStream enabled on the NATS server?)", err)
				}
				return err
			case time.Since(logged) >= 2*time.Second:
				s.log.Info("waiting for the cluster", "err", err)
				logged = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("no quorum of cluster nodes")
			}
			return fmt.Errorf("%w (gave up waiting for the cluster: %v)", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// defaultReplicas is Config.Replicas left zero with a URL: the replicas
// of the streams a store made there before, so that an upgrade does not
// scale them, or else 3 if the server is part of a cluster and 1 if not.
func (s *Store) defaultReplicas(ctx context.Context) (int, error) {
	st, err := s.js.Stream(ctx, streamMail)
	switch {
	case err == nil:
		return st.CachedInfo().Config.Replicas, nil
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return 0, fmt.Errorf("failed to read stream %s: %w", streamMail, err)
	case s.nc.ConnectedClusterName() != "":
		return 3, nil
	}
	return 1, nil
}

// externalWait bounds how long a store waits for an external NATS cluster
// to elect its meta leader.
const externalWait = 2 * time.Minute

// electing reports whether err, from opening the streams on an external
// NATS, may mean that its cluster is still electing a meta leader: no
// answer, or JetStream's "temporarily unavailable". A server that is not
// part of a cluster and has no JetStream has no responders for good.
func (s *Store) electing(err error) bool {
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) {
		return s.nc.ConnectedClusterName() != ""
	}
	return unanswered(err) || unavailable(err)
}

// unavailable reports whether err is JetStream's answer that it cannot
// serve API requests for now (no meta leader yet).
func unavailable(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeUnavailable
}

// nats-server's error codes (JSClusterNotAvailErr, JSClusterNoPeersErrF,
// JSInsufficientResourcesErr, JSStreamReplicasNotSupportedErr).
const (
	errCodeUnavailable  = 10008
	errCodeNoPeers      = 10005
	errCodeNoResources  = 10023
	errCodeNotClustered = 10074
)

// ErrTooFewServers means JetStream could not place a stream's replicas:
// fewer servers with JetStream (and room) than Config.Replicas.
var ErrTooFewServers = errors.New("store: too few JetStream servers for the replicas")

// placement marks err, from creating a stream or bucket, as
// ErrTooFewServers where JetStream could not place its replicas.
func (s *Store) placement(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && slices.Contains([]jetstream.ErrorCode{errCodeNoPeers, errCodeNoResources, errCodeNotClustered}, apiErr.ErrorCode) {
		return fmt.Errorf("%w (%d replicas): %w", ErrTooFewServers, s.cfg.Replicas, err)
	}
	return err
}

// LogWriter reports whether this node should integrate the log: the node
// that leads the LOG stream on an embedded cluster, and every store
// otherwise (one alone, or each of several named stores sharing an
// external NATS, which then race to append). Another node may believe it
// leads for a moment during an election; AppendLog's size check keeps the
// log whole even then, and the loser follows.
func (s *Store) LogWriter() bool {
	if s.ns == nil || s.cfg.Cluster == nil {
		return true
	}
	return s.ns.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, streamLog)
}

// Replica is one replica of a stream, as the stream's leader sees it.
type Replica struct {
	Node    string
	Leader  bool   // leads the stream: it orders and answers every write
	Current bool   // seen recently and caught up (always true of the leader)
	Lag     uint64 // operations behind the leader
}

// StreamReplicas is the replicas of one of the store's streams.
type StreamReplicas struct {
	Stream   string
	Replicas []Replica // the leader first; none if the stream has no leader
}

// ClusterState returns the replicas of each of the relay's record and
// mailbox streams, as each stream's leader reports them, or nil for a
// store whose streams have one replica. A stream without a leader (during an
// election, or without a quorum) has no replicas listed.
func (s *Store) ClusterState(ctx context.Context) ([]StreamReplicas, error) {
	if !s.Replicated() {
		return nil, nil
	}
	var out []StreamReplicas
	for _, st := range []jetstream.Stream{s.mail, s.box, s.receipts, s.rosters, s.leaves} {
		sr, err := s.replicas(ctx, st)
		if err != nil {
			return nil, err
		}
		out = append(out, sr)
	}
	return out, nil
}

// replicas returns the replicas of st as its leader reports them; none if
// no leader answers.
func (s *Store) replicas(ctx context.Context, st jetstream.Stream) (StreamReplicas, error) {
	name := st.CachedInfo().Config.Name
	sr := StreamReplicas{Stream: name}
	actx, cancel := context.WithTimeout(ctx, s.requestTimeout())
	info, err := st.Info(actx)
	cancel()
	switch {
	case err != nil && !unanswered(err) && !unavailable(err):
		return sr, fmt.Errorf("failed to read the state of stream %s: %w", name, err)
	case err != nil || info.Cluster == nil || info.Cluster.Leader == "":
		return sr, nil
	}
	sr.Replicas = append(sr.Replicas, Replica{Node: info.Cluster.Leader, Leader: true, Current: true})
	for _, r := range info.Cluster.Replicas {
		sr.Replicas = append(sr.Replicas, Replica{Node: r.Name, Current: r.Current, Lag: r.Lag})
	}
	return sr, nil
}

// Node returns this store's name among those that share the streams: the
// cluster node's name, or Config.Name on an external NATS; "" if it has
// none.
func (s *Store) Node() string {
	if s.cfg.Cluster == nil {
		return s.cfg.Name
	}
	return s.cfg.Cluster.Node
}

// shared reports whether other stores may write the same streams: on an
// embedded cluster, or on an external NATS.
func (c Config) shared() bool { return c.Cluster != nil || c.URL != "" }

// Replicated reports whether the streams have more than one replica: an
// embedded cluster node, or an external NATS cluster. Only then do
// ClusterState and Quorate have anything to report.
func (s *Store) Replicated() bool { return s.cfg.Replicas > 1 }

// requestTimeout is how long one JetStream request may take before it is
// tried again: commitTimeout on a single node, where no answer means
// trouble, and clusterRequestTimeout on a cluster, where a request sent to
// a stream leader that has just died is never answered and must go again
// to the next leader.
func (s *Store) requestTimeout() time.Duration { return requestTimeout(s.cfg) }

func requestTimeout(cfg Config) time.Duration {
	if cfg.shared() {
		return clusterRequestTimeout
	}
	return commitTimeout
}

// clusterRequestTimeout is longer than an election with FastFailover, so
// that a request usually waits out an election once rather than retrying
// into it.
const clusterRequestTimeout = 2 * time.Second

// publish publishes msg to JetStream, trying again while the stream has no
// leader to answer, until ctx ends. Every message the store publishes this
// way is idempotent (Nats-Msg-Id or an expected sequence), so a second try
// of a message that the first try stored is answered as a duplicate or a
// conflict, never stored twice.
func (s *Store) publish(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	var ack *jetstream.PubAck
	err := s.untilAnswered(ctx, "publish "+msg.Subject, func(ctx context.Context) (err error) {
		ack, err = s.js.PublishMsg(ctx, msg, opts...)
		return err
	})
	return ack, err
}

// purge removes the messages of st on subject subj, as publish writes: a
// purge sent to a stream leader that has just died is never answered, and
// would otherwise wait for all of ctx. Purging twice is harmless.
func (s *Store) purge(ctx context.Context, st jetstream.Stream, subj string) error {
	return s.untilAnswered(ctx, "purge "+subj, func(ctx context.Context) error {
		return st.Purge(ctx, jetstream.WithPurgeSubject(subj))
	})
}

// untilAnswered runs the JetStream request req with requestTimeout for
// each try, and tries again while it is unanswered and ctx lasts. req must
// be idempotent. A store of its own (one embedded node, not shared) tries
// once: there is no leader to elect, so JetStream not answering means it
// is gone, and the caller should hear so at once (503) rather than wait
// for as long as its client does.
func (s *Store) untilAnswered(ctx context.Context, what string, req func(context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, s.requestTimeout())
		err := req(actx)
		cancel()
		if err == nil || !unanswered(err) || ctx.Err() != nil || !s.cfg.shared() {
			return err
		}
		s.log.Debug("request not answered, trying again", "request", what, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// unanswered reports whether err means JetStream did not answer a request
// (no stream leader, or none yet), as opposed to answering it.
func unanswered(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// lastFor returns the last message of subj in st. It asks a replica (a
// direct get, which any of the stream's replicas may answer); on a
// cluster a replica that is behind, such as a node just back from a
// partition, answers "not found" for what the leader holds, so a miss is
// asked again of the stream's leader before it counts.
func (s *Store) lastFor(ctx context.Context, st jetstream.Stream, subj string) (*jetstream.RawStreamMsg, error) {
	m, err := st.GetLastMsgForSubject(ctx, subj)
	if !errors.Is(err, jetstream.ErrMsgNotFound) || !s.cfg.shared() {
		return m, err
	}
	return s.lastFromLeader(ctx, st.CachedInfo().Config.Name, subj)
}

// lastFromLeader asks the leader of stream for the last message of subj,
// with the JetStream API's (not direct) message get.
func (s *Store) lastFromLeader(ctx context.Context, stream, subj string) (*jetstream.RawStreamMsg, error) {
	req, _ := json.Marshal(map[string]string{"last_by_subj": subj})
	ctx, cancel := context.WithTimeout(ctx, s.requestTimeout())
	defer cancel()
	resp, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, req)
	if err != nil {
		return nil, err
	}
	var ans struct {
		Error   *jetstream.APIError `json:"error"`
		Message *struct {
			Subject string    `json:"subject"`
			Seq     uint64    `json:"seq"`
			Header  []byte    `json:"hdrs"`
			Data    []byte    `json:"data"`
			Time    time.Time `json:"time"`
		} `json:"message"`
	}
	if err := json.Unmarshal(resp.Data, &ans); err != nil {
		return nil, fmt.Errorf("bad answer to a message get: %w", err)
	}
	if ans.Error != nil {
		if ans.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return nil, jetstream.ErrMsgNotFound
		}
		return nil, ans.Error
	}
	if ans.Message == nil {
		return nil, errors.New("bad answer to a message get: no message")
	}
	m := &jetstream.RawStreamMsg{Subject: ans.Message.Subject, Sequence: ans.Message.Seq, Data: ans.Message.Data, Time: ans.Message.Time}
	if len(ans.Message.Header) > 0 {
		if m.Header, err = nats.DecodeHeadersMsg(ans.Message.Header); err != nil {
			return nil, fmt.Errorf("bad answer to a message get: %w", err)
		}
	}
	return m, nil
}

// ErrNoQuorum means a stream the relay writes has no leader, or its leader
// sees fewer than a majority of its replicas current: writes would wait
// or fail.
var ErrNoQuorum = errors.New("store: no quorum of cluster nodes")

// Quorate reports, where the streams are replicated (an embedded cluster
// node, or an external NATS cluster), whether every stream a post or a
// receipt writes (MAIL, BOX, RCPT) has a leader that sees a majority of
// its replicas current; nil where they have one replica. A
// leader cut off from the others keeps answering stream info for a while,
// but sees its followers go stale within a few heartbeats.
func (s *Store) Quorate(ctx context.Context) error {
	if !s.Replicated() {
		return nil
	}
	for _, st := range []jetstream.Stream{s.mail, s.box, s.receipts} {
		sr, err := s.replicas(ctx, st)
		if err != nil {
			return err
		}
		current := 0
		for _, r := range sr.Replicas {
			if r.Current {
				current++
			}
		}
		if current <= s.cfg.Replicas/2 {
			return fmt.Errorf("%w: stream %s has %d of %d replicas current", ErrNoQuorum, sr.Stream, current, s.cfg.Replicas)
		}
	}
	return nil
}
