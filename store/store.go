// Package store keeps the relay's state in NATS JetStream, with a nats-server
// embedded in the relay process (single node, no listener, in-process
// connection). It files rosters, channels, envelopes with their bodies and
// receipts. It never interprets what it stores: envelope headers, bodies
// (ciphertext) and receipts are opaque bytes, and it never logs them.
//
// # Layout
//
// Every stream is file-backed. Unless Config.NoSync is set, the server runs
// with SyncAlways, so every write is fsynced before JetStream acknowledges it.
//
//	stream ROSTERS   roster.<party>              every roster version of a party, oldest first
//	KV     channels  <a>.<b> (a < b)             one key per open channel
//	stream MAIL      mail.<id>                   one message per envelope: metadata in Bt-* headers,
//	                                             payload = envelope header || body (if inline)
//	object bodies    <id>                        bodies larger than Config.InlineLimit, in the
//	                                             Object Store format (see putBody)
//	stream BOX       box.<to>.<prec>.<id>        one entry per envelope not yet delivered:
//	                                             same Bt-* headers plus Bt-Seq, payload = envelope header
//	stream RCPT      rcpt.<sender>.<kind>.<id>   receipts, read by the sending party
//	KV     meta      checkpoint                  how far BOX is known to agree with MAIL and RCPT
//
// MAIL, RCPT and ROSTERS are records: they deny deletes and purges.
//
// # Commit points and idempotency
//
// The MAIL message is the commit point of a letter. A large body is first
// streamed into the object store, checked against its declared size and
// SHA-256 on the way, and only then is the MAIL message published. Because
// the subject mail.<id> holds exactly one message (published with
// Nats-Msg-Id = id and Nats-Expected-Last-Subject-Sequence = 0), Lookup is a
// direct get of that subject. It works forever, after the duplicate window
// and after a restart, with no separate index that could fall behind.
// Concurrent posts of one id inside this process are serialised by a per-id
// lock, so they never write the same body object at once.
//
// The RCPT message is the commit point of a receipt, keyed the same way
// (rcpt.<sender>.<kind>.<id>, Nats-Msg-Id = <id>.<kind>).
//
// # The mailbox (BOX) and crashes
//
// Pending must not read a party's whole history, so BOX holds one small entry
// per envelope that still waits for its delivered receipt. The entry is
// written right after the MAIL message and purged right after the delivered
// receipt. A crash between the two steps would leave BOX out of step with
// MAIL or RCPT. So the store keeps a checkpoint (MAIL seq, RCPT seq) up to
// which BOX is known to be right. It is written every checkpointEvery while
// nothing is half done, and at Close. Open replays MAIL and RCPT after the
// checkpoint, adds the missing entries, removes those already delivered, and
// only then serves. A second step that fails without a crash stops the
// checkpoint from advancing until the next Open; posting the letter or
// filing the receipt again also finishes it. With Config.NoSync a crash may
// lose any recent write and no promise is made.
//
// # Group commit
//
// With SyncAlways every JetStream write waits for an fsync, and Post writes
// twice. So concurrent posts share their fsyncs: Post hands its MAIL
// message to the committer goroutine of MAIL and waits for it, then hands
// its BOX entry to the committer of BOX and waits again. Post still returns
// only once both are durable, and the two steps keep their order. Each
// committer gathers what is queued, plus what is announced as on its way
// (a post announces its MAIL message right after its id lock and its BOX
// entry before its MAIL message), until it holds Config.CommitBatch
// messages, Config.CommitWindow has passed since the first, or nothing more
// is on its way. It publishes them as one JetStream atomic batch (streams
// MAIL and BOX allow atomic publish; headers Nats-Batch-Id,
// Nats-Batch-Sequence, Nats-Batch-Commit on core NATS, with the PubAck of
// the commit message as the answer). The server stores the batch whole or
// not at all, contiguously and with one fsync, so that answer gives every
// message its sequence. An atomic batch has a fixed cost (the server stages
// it in a file store of its own), so a group smaller than Config.CommitMin
// goes back to its posts, which publish their messages one by one as
// before; a lone post is never delayed. With NoSync there is no fsync to
// share and posts never batch unless CommitMin says so.
//
// Nats-Msg-Id and Nats-Expected-Last-Subject-Sequence work inside a batch,
// but one conflicting message makes the server refuse the whole batch, and
// so does a subject that appears twice. The id lock and the Lookup under it
// keep a second post of an id out of the batch; should two messages for
// one subject meet anyway, the committer publishes the first and answers
// the second as its duplicate (a Post then gets the original with
// ErrDuplicate). If the server refuses a batch, nothing of it is stored, and
// each post publishes its message again on its own, so one bad message
// cannot fail the others. If the outcome is unknown (a timeout), each post
// looks its letter up, as after a lone publish.
//
// Crash safety does not change: a post holds the checkpoint lock shared
// from its MAIL message until its BOX entry is durable, so the checkpoint
// never passes a letter whose entry may be missing, and Open's repair files
// it. A crash during a batch leaves none of it, or, if the server had begun
// appending the batch to the stream, the server completes it from its
// staged copy when it starts again, before the repair.
//
// Only one Store may use a Dir at a time.
//
// Watch is a core NATS subscription on box.<party>.*.*, so it sees each
// envelope when its BOX entry is written.
package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults for Config and limits on what the store accepts.
const (
	DefaultDedupWindow  = 24 * time.Hour   // Config.DedupWindow when zero
	DefaultInlineLimit  = 256 << 10        // Config.InlineLimit when zero
	DefaultMaxBodyBytes = 2 << 30          // Config.MaxBodyBytes when zero
	DefaultCommitWindow = time.Millisecond // Config.CommitWindow when zero
	DefaultCommitBatch  = 100              // Config.CommitBatch when zero
	DefaultCommitMin    = 32               // Config.CommitMin when zero

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
)

// Config configures Open. Its zero value (except Dir) is safe: fsync before every ack.
type Config struct {
	// Dir is the data folder for JetStream; required. Reopening the same Dir
	// sees all previous data.
	Dir string
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
	// Default DefaultCommitMin, or never with NoSync (without an fsync to
	// share, a batch costs more than it saves); 1 batches every group;
	// above CommitBatch never batches.
	CommitMin int
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
	channels jetstream.KeyValue
	meta     jetstream.KeyValue
	bodies   jetstream.ObjectStore
	// bodyStream is the object store's stream, bodyJS a JetStream context
	// with an ack timeout for the chunk uploads.
	bodyStream jetstream.Stream
	bodyJS     jetstream.JetStream

	locks idLocks // serialises Post and PutReceipt per letter id

	// mailQ and boxQ group-commit MAIL messages and BOX entries (commit.go).
	mailQ, boxQ *committer

	// commitMu is held shared across each two-step commit (MAIL then BOX,
	// RCPT then BOX purge) and exclusively while taking a checkpoint.
	commitMu sync.RWMutex
	mailSeq  atomic.Uint64 // highest MAIL seq written by this process (or at Open)
	rcptSeq  atomic.Uint64 // highest RCPT seq written by this process (or at Open)
	dirty    atomic.Bool   // a second step failed: do not advance the checkpoint
	lastCP   checkpoint    // last checkpoint written; used by the checkpoint goroutine and Close only

	mu       sync.Mutex // guards closed and watchers
	closed   bool
	watchers map[*watcher]struct{}
	ops      sync.WaitGroup // running method calls
	bg       sync.WaitGroup // checkpoint goroutine
	life     context.Context
	stop     context.CancelFunc
}

// Open starts an embedded nats-server with JetStream in cfg.Dir, connects to
// it in process, creates or updates the streams and buckets, and repairs the
// mailbox after an unclean shutdown (see the package documentation).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: config needs a data folder (Dir)", ErrInvalid)
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
	if cfg.CommitMin == 0 {
		cfg.CommitMin = DefaultCommitMin
		if cfg.NoSync {
			cfg.CommitMin = MaxCommitBatch + 1 // no fsync to share
		}
	}
	switch {
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
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	ns, err := server.NewServer(&server.Options{
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
	})
	if err != nil {
		return nil, fmt.Errorf("failed to configure nats server: %w", err)
	}
	ns.SetLoggerV2(serverLog{log.With("component", "nats-server")}, false, false, false)
	ns.Start()
	var nc *nats.Conn
	abort := func(err error) (*Store, error) {
		if nc != nil {
			nc.Close()
		}
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, err
	}
	if !ns.ReadyForConnections(30 * time.Second) {
		return abort(errors.New("failed to start nats server: not ready after 30s"))
	}
	if nc, err = nats.Connect("", nats.InProcessServer(ns), nats.Name("brieftraeger-store")); err != nil {
		return abort(fmt.Errorf("failed to connect to nats server: %w", err))
	}
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(commitTimeout))
	if err != nil {
		return abort(fmt.Errorf("failed to open jetstream: %w", err))
	}
	life, stop := context.WithCancel(context.Background())
	s := &Store{
		cfg: cfg, log: log, ns: ns, nc: nc, js: js,
		watchers: make(map[*watcher]struct{}),
		life:     life, stop: stop,
	}
	if err := s.setup(ctx); err != nil {
		stop()
		return abort(err)
	}
	s.mailQ = newCommitter(nc, cfg.CommitWindow, cfg.CommitMin, cfg.CommitBatch)
	s.boxQ = newCommitter(nc, cfg.CommitWindow, cfg.CommitMin, cfg.CommitBatch)
	s.bg.Add(1)
	go s.checkpointLoop()
	log.Info("store opened", "dir", cfg.Dir, "sync", !cfg.NoSync, "mail_seq", s.mailSeq.Load(), "receipt_seq", s.rcptSeq.Load())
	return s, nil
}

// setup creates or updates every stream and bucket and repairs BOX.
func (s *Store) setup(ctx context.Context) error {
	records := func(name string, subjects []string, dedup time.Duration) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name: name, Subjects: subjects, Storage: jetstream.FileStorage,
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
		{&s.box, batched(jetstream.StreamConfig{
			Name: streamBox, Subjects: []string{"box.*.*.*"}, Storage: jetstream.FileStorage, AllowDirect: true,
		})},
	}
	for _, x := range streams {
		if *x.st, err = s.js.CreateOrUpdateStream(ctx, x.cfg); err != nil {
			return fmt.Errorf("failed to open stream %s: %w", x.cfg.Name, err)
		}
	}
	if s.channels, err = s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucketChannels, Storage: jetstream.FileStorage,
	}); err != nil {
		return fmt.Errorf("failed to open bucket %s: %w", bucketChannels, err)
	}
	if s.meta, err = s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucketMeta, Storage: jetstream.FileStorage,
	}); err != nil {
		return fmt.Errorf("failed to open bucket %s: %w", bucketMeta, err)
	}
	if s.bodies, err = s.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: bucketBodies, Storage: jetstream.FileStorage,
	}); err != nil {
		return fmt.Errorf("failed to open object store %s: %w", bucketBodies, err)
	}
	if s.bodyStream, err = s.js.Stream(ctx, "OBJ_"+bucketBodies); err != nil {
		return fmt.Errorf("failed to open object store stream: %w", err)
	}
	if s.bodyJS, err = jetstream.New(s.nc, jetstream.WithPublishAsyncTimeout(commitTimeout)); err != nil {
		return fmt.Errorf("failed to open jetstream: %w", err)
	}
	return s.repair(ctx)
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
	for w := range s.watchers {
		w.cancel()
	}
	s.mu.Unlock()

	s.stop()
	s.bg.Wait()
	s.ops.Wait()
	s.mailQ.stop() // nothing can publish any more
	s.boxQ.stop()

	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
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
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
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

// checkpoint records how far BOX is known to agree with MAIL and RCPT.
type checkpoint struct{ mail, rcpt uint64 }

func (s *Store) loadCheckpoint(ctx context.Context) (checkpoint, error) {
	e, err := s.meta.Get(ctx, keyCheckpoint)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return checkpoint{}, nil
	}
	if err != nil {
		return checkpoint{}, fmt.Errorf("failed to read checkpoint: %w", err)
	}
	var cp checkpoint
	if _, err := fmt.Sscanf(string(e.Value()), "%d %d", &cp.mail, &cp.rcpt); err != nil {
		return checkpoint{}, fmt.Errorf("failed to parse checkpoint %q: %w", e.Value(), err)
	}
	return cp, nil
}

// checkpoint writes a new checkpoint unless a second step failed in this
// process. It waits for half-done commits by taking commitMu exclusively.
func (s *Store) checkpoint(ctx context.Context) error {
	s.commitMu.Lock()
	cp := checkpoint{s.mailSeq.Load(), s.rcptSeq.Load()}
	dirty := s.dirty.Load()
	s.commitMu.Unlock()
	if dirty || cp == s.lastCP {
		return nil
	}
	if _, err := s.meta.Put(ctx, keyCheckpoint, fmt.Appendf(nil, "%d %d", cp.mail, cp.rcpt)); err != nil {
		return fmt.Errorf("failed to write checkpoint: %w", err)
	}
	s.lastCP = cp
	return nil
}

func (s *Store) checkpointLoop() {
	defer s.bg.Done()
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.life.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(s.life, commitTimeout)
			if err := s.checkpoint(ctx); err != nil && s.life.Err() == nil {
				s.log.Warn("checkpoint failed", "err", err)
			}
			cancel()
		}
	}
}

// markDirty records that a second step failed, so the next Open repairs BOX.
func (s *Store) markDirty(what string, err error) {
	s.dirty.Store(true)
	s.log.Error("mailbox out of step until the next Open repairs it", "step", what, "err", err)
}

// repair brings BOX in line with MAIL and RCPT for everything written after
// the checkpoint, then writes a new checkpoint. It runs inside Open.
func (s *Store) repair(ctx context.Context) error {
	cp, err := s.loadCheckpoint(ctx)
	if err != nil {
		return err
	}
	mailLast, err := lastSeq(ctx, s.mail)
	if err != nil {
		return err
	}
	rcptLast, err := lastSeq(ctx, s.receipts)
	if err != nil {
		return err
	}
	var added, removed int
	// Every envelope after the checkpoint without a delivered receipt needs
	// its BOX entry.
	if mailLast > cp.mail {
		err = s.scan(ctx, s.mail, "mail.*", cp.mail+1, true, func(m jetstream.Msg) error {
			meta, err := m.Metadata()
			if err != nil {
				return err
			}
			env, err := decodeEnvelope(m.Headers(), nil)
			if err != nil {
				s.log.Error("skipping undecodable envelope", "seq", meta.Sequence.Stream, "err", err)
				return nil
			}
			if env.Delivered, err = s.hasReceipt(ctx, env.From, ReceiptDelivered, env.ID); err != nil || env.Delivered {
				return err
			}
			if _, err := s.box.GetLastMsgForSubject(ctx, boxSubject(env.Stored)); err == nil {
				return nil
			} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
				return fmt.Errorf("failed to read mailbox: %w", err)
			}
			full, err := s.lookup(ctx, env.ID)
			if err != nil {
				return err
			}
			added++
			return s.putBox(ctx, full.Stored)
		})
		if err != nil {
			return fmt.Errorf("failed to repair mailbox from mail: %w", err)
		}
	}
	// Every delivered receipt after the checkpoint removes its BOX entry.
	if rcptLast > cp.rcpt {
		filter := fmt.Sprintf("rcpt.*.%d.*", ReceiptDelivered)
		err = s.scan(ctx, s.receipts, filter, cp.rcpt+1, true, func(m jetstream.Msg) error {
			id := m.Subject()[strings.LastIndexByte(m.Subject(), '.')+1:]
			removed++
			return s.box.Purge(ctx, jetstream.WithPurgeSubject("box.*.*."+id))
		})
		if err != nil {
			return fmt.Errorf("failed to repair mailbox from receipts: %w", err)
		}
	}
	if mailLast != cp.mail || rcptLast != cp.rcpt {
		s.log.Info("mailbox checked after checkpoint", "from_mail_seq", cp.mail, "to_mail_seq", mailLast,
			"from_receipt_seq", cp.rcpt, "to_receipt_seq", rcptLast, "entries_added", added, "receipts_replayed", removed)
	}
	s.lastCP = cp
	s.mailSeq.Store(mailLast)
	s.rcptSeq.Store(rcptLast)
	return s.checkpoint(ctx)
}

func lastSeq(ctx context.Context, st jetstream.Stream) (uint64, error) {
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("failed to read stream info: %w", err)
	}
	return info.State.LastSeq, nil
}

func storeMax(a *atomic.Uint64, v uint64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// scan calls fn for every message of st matching filter from seq fromSeq on,
// in stream order, using a short-lived ephemeral consumer. It stops at the
// messages present when it started (new ones may or may not be seen).
func (s *Store) scan(ctx context.Context, st jetstream.Stream, filter string, fromSeq uint64, headersOnly bool, fn func(jetstream.Msg) error) error {
	cfg := jetstream.ConsumerConfig{
		FilterSubject:     filter,
		AckPolicy:         jetstream.AckNonePolicy,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		HeadersOnly:       headersOnly,
		MemoryStorage:     true,
		InactiveThreshold: time.Minute, // in case the delete below fails
	}
	if fromSeq > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = fromSeq
	}
	cons, err := st.CreateConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("failed to create consumer: %w", err)
	}
	info := cons.CachedInfo()
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := st.DeleteConsumer(dctx, info.Name); err != nil {
			s.log.Debug("failed to delete scan consumer", "consumer", info.Name, "err", err)
		}
	}()
	pending := info.NumPending
	for pending > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, err := cons.FetchNoWait(int(min(pending, scanBatch)))
		if err != nil {
			return fmt.Errorf("failed to fetch: %w", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("failed to read message metadata: %w", err)
			}
			pending = meta.NumPending
			if err := fn(m); err != nil {
				return err
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("failed to fetch: %w", err)
		}
		if got == 0 {
			return nil // the rest was removed while scanning
		}
	}
	return nil
}

// idLocks is a set of mutexes keyed by letter id.
type idLocks struct {
	mu sync.Mutex
	m  map[string]*idLock
}

type idLock struct {
	sync.Mutex
	refs int
}

// lock locks id and returns its unlock function.
func (l *idLocks) lock(id string) func() {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*idLock)
	}
	e := l.m[id]
	if e == nil {
		e = &idLock{}
		l.m[id] = e
	}
	e.refs++
	l.mu.Unlock()
	e.Lock()
	return func() {
		e.Unlock()
		l.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(l.m, id)
		}
		l.mu.Unlock()
	}
}

// checkParty validates a party name: [a-z0-9-]{1,32}.
func checkParty(name string) error {
	if len(name) < 1 || len(name) > 32 {
		return fmt.Errorf("%w: party name %q must be 1 to 32 characters of [a-z0-9-]", ErrInvalid, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%w: party name %q must be 1 to 32 characters of [a-z0-9-]", ErrInvalid, name)
		}
	}
	return nil
}

// checkID validates a letter id: 32 lowercase hex characters.
func checkID(id string) error {
	if len(id) != 32 {
		return fmt.Errorf("%w: letter id %q must be 32 lowercase hex characters", ErrInvalid, id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("%w: letter id %q must be 32 lowercase hex characters", ErrInvalid, id)
		}
	}
	return nil
}

// isWrongLastSeq reports whether err is JetStream refusing a publish because
// the subject already holds a message (Nats-Expected-Last-Subject-Sequence).
func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

func formatUint(v uint64) string { return strconv.FormatUint(v, 10) }

// serverLog passes the embedded server's logs to slog. Its notices (the
// start-up banner and such) go out at debug level.
type serverLog struct{ l *slog.Logger }

func (g serverLog) Noticef(format string, v ...any) { g.l.Debug(fmt.Sprintf(format, v...)) }
func (g serverLog) Warnf(format string, v ...any)   { g.l.Warn(fmt.Sprintf(format, v...)) }
func (g serverLog) Fatalf(format string, v ...any)  { g.l.Error(fmt.Sprintf(format, v...)) }
func (g serverLog) Errorf(format string, v ...any)  { g.l.Error(fmt.Sprintf(format, v...)) }
func (g serverLog) Debugf(format string, v ...any)  { g.l.Debug(fmt.Sprintf(format, v...)) }
func (g serverLog) Tracef(format string, v ...any)  {}
