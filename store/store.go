package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"brieftraeger/internal/recent"
)

// Defaults for Config and limits on what the store accepts.
const (
	DefaultDedupWindow  = 24 * time.Hour   // Config.DedupWindow when zero
	DefaultInlineLimit  = 256 << 10        // Config.InlineLimit when zero
	DefaultMaxBodyBytes = 2 << 30          // Config.MaxBodyBytes when zero
	DefaultCommitWindow = time.Millisecond // Config.CommitWindow when zero
	DefaultCommitBatch  = 100              // Config.CommitBatch when zero
	DefaultCommitMin    = 32               // Config.CommitMin when zero, one replica
	// DefaultReplicatedCommitMin is Config.CommitMin when zero with more
	// than one replica: there a write's cost is its replication round,
	// which an atomic batch of any size pays once.
	DefaultReplicatedCommitMin = 2
	DefaultRosterCache         = time.Second // Config.RosterCache when zero

	// MaxCommitBatch bounds Config.CommitBatch: the largest atomic batch
	// that nats-server accepts by default.
	MaxCommitBatch = 1000

	// MaxInlineLimit bounds Config.InlineLimit so that an inline envelope
	// stays well inside the NATS maximum payload.
	MaxInlineLimit = 4 << 20
	// MaxHeaderBytes bounds Post.Header.
	MaxHeaderBytes = 64 << 10
	// MaxReceiptBytes bounds a receipt.
	MaxReceiptBytes = 64 << 10
	// MaxRosterBytes bounds one roster version.
	MaxRosterBytes = 512 << 10

	checkpointEvery = 30 * time.Second // how often BOX's checkpoint may advance
	commitTimeout   = 30 * time.Second // per JetStream request, and to finish a commit
	scanBatch       = 1000             // messages per fetch when scanning
)

// Stream, bucket and key names.
const (
	streamRosters  = "ROSTERS"
	streamMail     = "MAIL"
	streamBox      = "BOX"
	streamReceipts = "RCPT"
	streamLog      = "LOG"
	streamEpochs   = "EPOCHS"
	bucketChannels = "channels"
	bucketMeta     = "meta"
	bucketBodies   = "bodies"
	keyCheckpoint  = "checkpoint"
)

var (
	// ErrNotFound means the party, letter or receipt is not stored.
	ErrNotFound = errors.New("store: not found")
	// ErrInvalid means an argument is malformed (a bad party name or letter
	// id, an oversized header, ...). It is always wrapped with the reason.
	ErrInvalid = errors.New("store: invalid argument")
	// ErrClosed is returned by every method once Close has begun.
	ErrClosed = errors.New("store: closed")
	// ErrConflict means another roster version was stored since the one
	// the caller built on; nothing was stored.
	ErrConflict = errors.New("store: roster changed concurrently")
)

// Config configures Open. Its zero value (except Dir) is safe: fsync before every ack.
type Config struct {
	// Dir is the data folder for JetStream; required unless URL is set.
	// Reopening the same Dir sees all previous data.
	Dir string
	// URL, if set, is an existing NATS server or cluster with JetStream to
	// use instead of an embedded server; Dir and NoSync are then unused
	// (durability is the external servers' configuration, their
	// sync_interval). Several stores (relay processes) may share a URL's
	// streams if each has its own Name.
	URL string
	// Name, with URL, names this store among those sharing the URL's
	// streams (1 to 32 of a-z, 0-9 and '-'): each keeps its own crash
	// checkpoint under it. Unused with Cluster, whose Node names it.
	Name string
	// Replicas is the number of replicas of every stream and bucket;
	// default 1, or 3 with Cluster. With a URL the default is the replicas
	// of the streams a store made there before, or for new streams 3 if
	// the server is part of a cluster and 1 if not.
	Replicas int
	// Cluster, if set, makes the embedded server one node of a cluster
	// (cluster.go); nil runs a single node.
	Cluster *ClusterConfig
	// NoSync, if true, does NOT fsync on every write (JetStream's default
	// 2-minute SyncInterval applies). Unsafe; for benchmarks only.
	NoSync bool
	// DedupWindow is the JetStream duplicate window on the MAIL and RCPT
	// streams; default 24h. Lookup finds duplicates after the window as well.
	DedupWindow time.Duration
	// InlineLimit: bodies up to this many bytes are stored inside the MAIL
	// message; larger ones go to the object store. Default 256 KiB, at most
	// MaxInlineLimit.
	InlineLimit int
	// MaxBodyBytes: bodies bigger than this are refused with ErrTooLarge;
	// default 2 GiB.
	MaxBodyBytes int64
	// Logger receives the store's and the embedded server's logs; nil
	// discards them.
	Logger *slog.Logger
	// BodyHash, if set, makes the hash that Post.BodySHA256 (and so
	// Stored.BodySHA256) is taken with, instead of plain crypto/sha256: for
	// example a SHA-256 with a domain-separation prefix, as in the signed
	// envelope header. It must return 32-byte sums.
	BodyHash func() hash.Hash
	// CommitWindow is how long a group commit may wait, counted from the
	// first letter queued, for letters already on their way (past their
	// id lock) before it publishes the batch. It never waits when no letter
	// is on its way, so a lone Post is not delayed. Default
	// DefaultCommitWindow; negative means never wait, just publish what is
	// queued (batches then form only from posts that arrive while the
	// previous batch is being written).
	CommitWindow time.Duration
	// CommitBatch is the most messages in one group commit (one atomic
	// batch, one fsync); default DefaultCommitBatch, at most MaxCommitBatch.
	CommitBatch int
	// CommitMin is the fewest messages worth an atomic batch; a smaller
	// group is published message by message, as concurrent requests.
	// Default DefaultCommitMin, DefaultReplicatedCommitMin with more than
	// one replica, or never with NoSync (without an fsync to share, a
	// batch costs more than it saves); 1 batches every group; above
	// CommitBatch never batches.
	CommitMin int
	// RosterCache is how long CachedRoster answers from the version read
	// last, so that posts do not each read their parties' rosters: a
	// roster stored through another cluster node takes effect there
	// within this time (one stored through this store, at once). Default
	// DefaultRosterCache; negative reads every time.
	RosterCache time.Duration
}

// Store is an open JetStream-backed store. It owns an embedded nats-server
// and one in-process connection to it. All methods are safe for concurrent
// use. Close it to flush and stop the server.
type Store struct {
	cfg Config
	log *slog.Logger

	ns *server.Server
	nc *nats.Conn
	js jetstream.JetStream

	rosters  jetstream.Stream
	mail     jetstream.Stream
	box      jetstream.Stream
	receipts jetstream.Stream
	leaves   jetstream.Stream // LOG: the log's leaf sequence (log.go)
	epochs   jetstream.Stream // EPOCHS: parties' epoch bundles (epochs.go)
	channels jetstream.KeyValue
	meta     jetstream.KeyValue
	bodies   jetstream.ObjectStore
	// bodyStream is the object store's stream, bodyJS a JetStream context
	// with an ack timeout for the chunk uploads.
	bodyStream jetstream.Stream
	bodyJS     jetstream.JetStream

	locks  idLocks                      // serialises Post and PutReceipt per letter id
	filing filings                      // mailbox entries being filed after their letters were acknowledged
	filed  recent.Map[string, struct{}] // letters whose entries this store filed lately
	// committed holds the letters this store committed lately, by MAIL
	// sequence, so that the log's reader need not read them back:
	// recentLetters a generation, a few seconds of traffic.
	committed recent.Map[uint64, Stored]
	// hot holds the letters with bodies up to hotMax bytes that this
	// store committed lately, bodies and all, by id, for Letter.
	hot recent.Map[string, envelope]

	// openChannels remembers the channels found open, so that a post does
	// not read the channel again. A channel is never closed (there is no
	// way to); if one ever can be, this must go.
	openChannels sync.Map // channel key -> struct{}
	// rosterCache holds the latest roster version read or stored, by
	// party, for Config.RosterCache.
	rosterCache sync.Map // party -> *cachedRoster

	// mailQ and boxQ group-commit MAIL messages and BOX entries (commit.go).
	mailQ, boxQ *committer

	// commitMu is held shared across each two-step commit (MAIL then BOX,
	// RCPT then BOX purge) and exclusively while taking a checkpoint.
	commitMu sync.RWMutex
	mailSeq  atomic.Uint64 // highest MAIL seq written by this process (or at Open)
	rcptSeq  atomic.Uint64 // highest RCPT seq written by this process (or at Open)
	dirty    atomic.Bool   // a second step failed: do not advance the checkpoint
	lastCP   checkpoint    // last checkpoint written; used by the checkpoint goroutine and Close only

	mu          sync.Mutex // guards closed, and adding watchers
	closed      bool
	watching    watching       // the watchers, by party, under a lock of their own
	receiptWait time.Duration  // receiptWait; shorter in tests
	ops         sync.WaitGroup // running method calls
	bg          sync.WaitGroup // checkpoint goroutine
	life        context.Context
	stop        context.CancelFunc
}

// Open starts an embedded nats-server with JetStream in cfg.Dir, connects to
// it in process, creates or updates the streams and buckets, and repairs the
// mailbox after an unclean shutdown (see the package documentation).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Dir == "" && cfg.URL == "" {
		return nil, fmt.Errorf("%w: config needs a data folder (Dir) or a NATS URL", ErrInvalid)
	}
	if cfg.Replicas == 0 && cfg.URL == "" {
		cfg.Replicas = 1
		if cfg.Cluster != nil {
			cfg.Replicas = 3
		}
	}
	if cfg.DedupWindow == 0 {
		cfg.DedupWindow = DefaultDedupWindow
	}
	if cfg.InlineLimit == 0 {
		cfg.InlineLimit = DefaultInlineLimit
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.CommitWindow == 0 {
		cfg.CommitWindow = DefaultCommitWindow
	}
	if cfg.CommitBatch == 0 {
		cfg.CommitBatch = DefaultCommitBatch
	}
	if cfg.RosterCache == 0 {
		cfg.RosterCache = DefaultRosterCache
	}
	switch {
	case cfg.Replicas < 0 || cfg.Replicas > 5:
		return nil, fmt.Errorf("%w: Replicas must be between 1 and 5", ErrInvalid)
	case cfg.DedupWindow < 0:
		return nil, fmt.Errorf("%w: negative DedupWindow", ErrInvalid)
	case cfg.InlineLimit < 0 || cfg.InlineLimit > MaxInlineLimit:
		return nil, fmt.Errorf("%w: InlineLimit must be between 0 and %d", ErrInvalid, MaxInlineLimit)
	case cfg.MaxBodyBytes < 0:
		return nil, fmt.Errorf("%w: negative MaxBodyBytes", ErrInvalid)
	case cfg.CommitBatch < 0 || cfg.CommitBatch > MaxCommitBatch:
		return nil, fmt.Errorf("%w: CommitBatch must be between 1 and %d", ErrInvalid, MaxCommitBatch)
	case cfg.CommitMin < 0:
		return nil, fmt.Errorf("%w: negative CommitMin", ErrInvalid)
	case cfg.BodyHash != nil && cfg.BodyHash().Size() != sha256.Size:
		return nil, fmt.Errorf("%w: BodyHash must make 32-byte sums", ErrInvalid)
	case cfg.Name != "" && (cfg.URL == "" || !validNode(cfg.Name)):
		return nil, fmt.Errorf("%w: Name must be 1 to 32 of a-z, 0-9 and '-', and goes with URL", ErrInvalid)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	ns, nc, err := connect(cfg, log)
	if err != nil {
		return nil, err
	}
	abort := func(err error) (*Store, error) {
		nc.Close()
		if ns != nil {
			ns.Shutdown()
			ns.WaitForShutdown()
		}
		return nil, err
	}
	// Every JetStream request without a deadline of its own gets one. On a
	// cluster it is short: a request that reaches a replica that is down
	// or not yet caught up is never answered, and should fail over soon.
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(requestTimeout(cfg)))
	if err != nil {
		return abort(fmt.Errorf("failed to open jetstream: %w", err))
	}
	life, stop := context.WithCancel(context.Background())
	s := &Store{
		cfg: cfg, log: log, ns: ns, nc: nc, js: js,
		hot:         recent.Map[string, envelope]{Size: hotSize},
		committed:   recent.Map[uint64, Stored]{Size: recentLetters},
		filed:       recent.Map[string, struct{}]{Size: recentLetters},
		receiptWait: receiptWait,
		life:        life, stop: stop,
	}
	if err := s.setupWhenReady(ctx); err != nil {
		stop()
		return abort(err)
	}
	cfg = s.cfg // with Replicas known
	if cfg.CommitMin == 0 {
		cfg.CommitMin = DefaultCommitMin
		if cfg.Replicas > 1 {
			cfg.CommitMin = DefaultReplicatedCommitMin
		}
		if cfg.NoSync {
			cfg.CommitMin = MaxCommitBatch + 1 // no fsync to share
		}
	}
	s.cfg = cfg
	s.mailQ = newCommitter(nc, s.requestTimeout(), cfg.CommitWindow, cfg.CommitMin, cfg.CommitBatch)
	s.boxQ = newCommitter(nc, s.requestTimeout(), cfg.CommitWindow, cfg.CommitMin, cfg.CommitBatch)
	s.bg.Add(1)
	go s.checkpointLoop()
	log.Info("store opened", "dir", cfg.Dir, "url", cfg.URL, "sync", !cfg.NoSync, "replicas", cfg.Replicas,
		"mail_seq", s.mailSeq.Load(), "receipt_seq", s.rcptSeq.Load())
	return s, nil
}

// connect starts the embedded server in cfg.Dir and connects to it in
// process, or, if cfg.URL is set, connects to that NATS server (ns is then
// nil).
func connect(cfg Config, log *slog.Logger) (*server.Server, *nats.Conn, error) {
	if cfg.URL != "" {
		nc, err := nats.Connect(cfg.URL, nats.Name("brieftraeger-store"), nats.MaxReconnects(-1))
		if err != nil {
			return nil, nil, fmt.Errorf("failed to connect to nats at %s: %w", cfg.URL, err)
		}
		return nil, nc, nil
	}
	opts := &server.Options{
		ServerName:         "brieftraeger-store",
		DontListen:         true,
		JetStream:          true,
		StoreDir:           cfg.Dir,
		SyncAlways:         !cfg.NoSync,
		JetStreamMaxMemory: 256 << 20, // only ephemeral scan consumers live in memory
		// JetStreamMaxStore stays 0: the server takes 75% of the free disk.
		MaxPayload: int32(max(1<<20, cfg.InlineLimit+MaxHeaderBytes+64<<10)),
		NoLog:      true,
		NoSigs:     true,
	}
	if cfg.Cluster != nil {
		if err := clusterOptions(opts, cfg.Cluster); err != nil {
			return nil, nil, err
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to configure nats server: %w", err)
	}
	ns.SetLoggerV2(serverLog{log.With("component", "nats-server")}, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, nil, errors.New("failed to start nats server: not ready after 30s")
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns), nats.Name("brieftraeger-store"), nats.Token(opts.Authorization))
	if err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, nil, fmt.Errorf("failed to connect to nats server: %w", err)
	}
	return ns, nc, nil
}

// open creates or updates every stream and bucket, or with create false
// only opens them.
func (s *Store) open(ctx context.Context, create bool) error {
	records := func(name string, subjects []string, dedup time.Duration) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name: name, Subjects: subjects, Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas,
			Duplicates: dedup, AllowDirect: true, DenyDelete: true, DenyPurge: true,
		}
	}
	batched := func(c jetstream.StreamConfig) jetstream.StreamConfig {
		c.AllowAtomicPublish = true // for group commit
		return c
	}
	var err error
	streams := []struct {
		st  *jetstream.Stream
		cfg jetstream.StreamConfig
	}{
		{&s.rosters, records(streamRosters, []string{"roster.*"}, 0)},
		{&s.mail, batched(records(streamMail, []string{"mail.*"}, s.cfg.DedupWindow))},
		{&s.receipts, records(streamReceipts, []string{"rcpt.*.*.*"}, s.cfg.DedupWindow)},
		{&s.leaves, batched(records(streamLog, []string{subjectLog}, 0))},
		{&s.epochs, epochsConfig(s.cfg.Replicas)},
		{&s.box, batched(jetstream.StreamConfig{
			Name: streamBox, Subjects: []string{"box.*.*.*"}, Storage: jetstream.FileStorage, AllowDirect: true, Replicas: s.cfg.Replicas,
		})},
	}
	for _, x := range streams {
		if create {
			*x.st, err = s.js.CreateOrUpdateStream(ctx, x.cfg)
		} else {
			*x.st, err = s.js.Stream(ctx, x.cfg.Name)
		}
		if err != nil {
			return fmt.Errorf("failed to open stream %s: %w", x.cfg.Name, s.placement(err))
		}
	}
	for _, b := range []struct {
		kv   *jetstream.KeyValue
		name string
	}{{&s.channels, bucketChannels}, {&s.meta, bucketMeta}} {
		if create {
			*b.kv, err = s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: b.name, Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas})
		} else {
			*b.kv, err = s.js.KeyValue(ctx, b.name)
		}
		if err != nil {
			return fmt.Errorf("failed to open bucket %s: %w", b.name, s.placement(err))
		}
	}
	if create {
		s.bodies, err = s.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: bucketBodies, Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas})
	} else {
		s.bodies, err = s.js.ObjectStore(ctx, bucketBodies)
	}
	if err != nil {
		return fmt.Errorf("failed to open object store %s: %w", bucketBodies, s.placement(err))
	}
	if s.bodyStream, err = s.js.Stream(ctx, "OBJ_"+bucketBodies); err != nil {
		return fmt.Errorf("failed to open object store stream: %w", err)
	}
	if s.bodyJS, err = jetstream.New(s.nc, jetstream.WithPublishAsyncTimeout(commitTimeout)); err != nil {
		return fmt.Errorf("failed to open jetstream: %w", err)
	}
	return nil
}

// Close ends all watches, cancels running calls and waits for them (a call
// past its commit point still finishes), writes a checkpoint, drains the
// connection and shuts the embedded server down. Readers returned by Body
// fail after Close. Calls after Close return ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.watching.cancelAll()
	s.mu.Unlock()

	s.stop()
	s.bg.Wait()
	s.ops.Wait()
	s.mailQ.stop() // nothing can publish any more
	s.boxQ.stop()

	// On a cluster that has lost its quorum the checkpoint cannot be
	// written; the next Open repairs from the one before.
	ctx, cancel := context.WithTimeout(context.Background(), s.requestTimeout())
	defer cancel()
	err := s.checkpoint(ctx)

	closed := make(chan struct{})
	s.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if derr := s.nc.Drain(); derr != nil {
		s.nc.Close()
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		s.nc.Close()
	}
	if s.ns != nil {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	}
	s.log.Info("store closed")
	return err
}

// JetStream returns the store's JetStream context, for benchmarks that
// compare against raw publishing.
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Conn returns the store's in-process NATS connection.
func (s *Store) Conn() *nats.Conn { return s.nc }

// begin registers a running call. The returned context is also canceled when
// Close begins; done must be called when the call ends.
func (s *Store) begin(ctx context.Context) (context.Context, func(), error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, ErrClosed
	}
	s.ops.Add(1)
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.life, cancel)
	return ctx, func() { stop(); cancel(); s.ops.Done() }, nil
}

// bodyHash returns a new hash for checking bodies.
func (s *Store) bodyHash() hash.Hash {
	if s.cfg.BodyHash != nil {
		return s.cfg.BodyHash()
	}
	return sha256.New()
}

// commitContext is used once a commit point may have been passed: the
// caller's cancellation no longer stops the remaining steps.
func commitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
}
