package relay

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"

	"brieftraeger/envelope"
	"brieftraeger/store"
	"brieftraeger/tlog"
)

// logIdentity returns the origin of a relay's log and the note verifier
// key of its log key, as the descriptor publishes them.
func logIdentity(relayName string, key ed25519.PrivateKey) (origin, vkey string, err error) {
	origin = "brieftraeger/" + relayName
	_, vkey, err = tlog.NewLogKey(origin, key)
	if err != nil {
		return "", "", fmt.Errorf("failed to make log key: %w", err)
	}
	return origin, vkey, nil
}

// DefaultLogInterval is how often the relay integrates new records into its
// log and signs a checkpoint, when Config.LogInterval is zero.
const DefaultLogInterval = 50 * time.Millisecond

// logBatch bounds the records read from each stream per integration. An
// envelope makes two leaves, so one integration makes at most 4*logBatch
// leaves: one atomic append, which never splits an envelope from its
// posted receipt.
const logBatch = 200

// logKeeper keeps the relay's log: it turns every stored envelope (and its
// posted receipt), every filed receipt and every admitted roster into a
// leaf, appends the leaves to the store's LOG stream, keeps the Merkle tree
// of all leaves, and signs a checkpoint after each integration. On a
// cluster every node keeps the tree from LOG, and only the node that leads
// the LOG stream integrates; each node signs checkpoints of its own tree,
// which are the same bytes on every node for the same size (Ed25519
// signatures are deterministic). The tree changes under mu; stepMu orders
// the run goroutine and catchUp.
type logKeeper struct {
	store  *store.Store
	signer note.Signer
	origin string
	posted func(store.Stored) (*envelope.Receipt, error)
	log    *slog.Logger

	mu    sync.RWMutex
	main  *logView
	high  map[string]uint64   // record stream -> highest sequence in the log
	forks map[string]*logView // test-only equivocation: another history for one party (export_test.go)

	// The operator's light: each direction's newest logged letter not yet
	// written to the store, and when each direction was last written.
	seenMu      sync.Mutex
	seenPending map[store.Direction]time.Time
	seenWake    chan struct{}                 // noteSeen kept something new
	seenWritten map[store.Direction]time.Time // only flushSeen touches it
	now         func() time.Time

	stepMu sync.Mutex  // held while reading LOG or appending to it (step, catchUp)
	paused atomic.Bool // test-only: integration held off (export_test.go)
}

// logView is one history of the log: its tree, the index of its leaves and
// its latest signed checkpoint. The relay keeps one; only a test makes it
// keep another, to play a relay that equivocates.
type logView struct {
	tree       tlog.Tree
	index      map[[32]byte]uint64      // leaf hash -> index
	data       [][]byte                 // leaf data by index, served to auditors
	checkpoint []byte                   // the latest signed checkpoint note
	alter      func(leaf []byte) []byte // nil for the true history
}

func newLogView(alter func([]byte) []byte) *logView {
	return &logView{index: map[[32]byte]uint64{}, alter: alter}
}

func newLogKeeper(ctx context.Context, st *store.Store, name string, key ed25519.PrivateKey,
	posted func(store.Stored) (*envelope.Receipt, error), log *slog.Logger) (*logKeeper, error) {
	origin, _, err := logIdentity(name, key)
	if err != nil {
		return nil, err
	}
	skey, _, err := tlog.NewLogKey(origin, key)
	if err != nil {
		return nil, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("failed to make log signer: %w", err)
	}
	k := &logKeeper{store: st, signer: signer, origin: origin, posted: posted, log: log,
		main: newLogView(nil), high: map[string]uint64{},
		seenPending: map[store.Direction]time.Time{}, seenWritten: map[store.Direction]time.Time{}, seenWake: make(chan struct{}, 1), now: time.Now}
	if err := st.LogLeaves(ctx, 0, func(l store.LogLeaf) error { return k.add(l) }); err != nil {
		return nil, fmt.Errorf("failed to read the log: %w", err)
	}
	if err := k.sign(); err != nil {
		return nil, err
	}
	return k, nil
}

// add appends one stored leaf to the tree (and its altered form to any
// fork). The caller holds mu or is the constructor.
func (k *logKeeper) add(l store.LogLeaf) error {
	if l.Index != k.main.tree.Size() {
		return fmt.Errorf("log leaf %d out of order (tree size %d)", l.Index, k.main.tree.Size())
	}
	k.main.append(l.Data)
	for _, f := range k.forks {
		f.append(f.alter(l.Data))
	}
	k.high[l.Source] = max(k.high[l.Source], l.SourceSeq)
	return nil
}

func (v *logView) append(leaf []byte) {
	v.index[tlog.LeafHash(leaf)] = v.tree.Append(leaf)
	v.data = append(v.data, leaf)
}

// sign signs a checkpoint of each view. The caller holds mu or is the
// constructor.
func (k *logKeeper) sign() error {
	for _, v := range append([]*logView{k.main}, mapValues(k.forks)...) {
		size := v.tree.Size()
		root, err := v.tree.Root(size)
		if err != nil {
			return err
		}
		if v.checkpoint, err = tlog.Sign(k.origin, size, root, k.signer); err != nil {
			return fmt.Errorf("failed to sign checkpoint: %w", err)
		}
	}
	return nil
}

func mapValues(m map[string]*logView) []*logView {
	var out []*logView
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// viewOf returns the view of the log shown to party. The caller holds mu.
func (k *logKeeper) viewOf(party string) *logView {
	if f := k.forks[party]; f != nil {
		return f
	}
	return k.main
}

// run integrates new records every interval until ctx ends, and writes
// the operator's light from its own goroutine (seenLoop), so that a store
// slow to take those writes does not slow the log.
func (k *logKeeper) run(ctx context.Context, every time.Duration) {
	seenDone := make(chan struct{})
	go func() {
		defer close(seenDone)
		k.seenLoop(ctx)
	}()
	defer func() { <-seenDone }()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if k.paused.Load() {
			continue
		}
		if err := k.step(ctx); err != nil && ctx.Err() == nil {
			k.log.Error("log integration failed", "err", err)
		}
	}
}

// seenLoop writes what noteSeen keeps as soon as it keeps it, and what
// the once-a-second limit held back every seenFlush, until ctx ends; and
// then, once more, all of it: the letters of the last rounds are logged
// already and would not be noted again.
func (k *logKeeper) seenLoop(ctx context.Context) {
	t := time.NewTicker(seenFlush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			k.flushSeen(context.WithoutCancel(ctx), true)
			return
		case <-k.seenWake:
		case <-t.C:
		}
		k.flushSeen(ctx, false)
	}
}

// step brings the tree up to date with LOG, where another relay node may
// have appended, and then, on the node that writes the log, integrates the
// records not yet in it.
func (k *logKeeper) step(ctx context.Context) error {
	k.stepMu.Lock()
	defer k.stepMu.Unlock()
	if err := k.follow(ctx); err != nil {
		return err
	}
	if !k.store.LogWriter() {
		return nil
	}
	return k.integrate(ctx)
}

// follow adds the leaves that LOG holds beyond the tree and signs a new
// checkpoint if there were any. The caller holds stepMu.
func (k *logKeeper) follow(ctx context.Context) error {
	const page = 4 * logBatch
	added := false
	defer func() {
		if added {
			k.mu.Lock()
			if err := k.sign(); err != nil {
				k.log.Error("failed to sign checkpoint", "err", err)
			}
			k.mu.Unlock()
		}
	}()
	for {
		leaves, err := k.store.LogLeavesAfter(ctx, k.size(), page)
		if err != nil {
			return err
		}
		k.mu.Lock()
		for _, l := range leaves {
			if err := k.add(l); err != nil {
				k.mu.Unlock()
				return err
			}
			added = true
		}
		k.mu.Unlock()
		if len(leaves) < page {
			return nil
		}
	}
}

// catchUp waits, for at most catchUpWait, until the tree has at least
// size leaves, reading LOG meanwhile: a node that has just lost the lead,
// or follows it a few milliseconds behind, can then prove what a client
// saw from another node. It returns at once if the log itself (as the
// leader of the LOG stream reports it) is smaller than size: the node then
// answers with what the log holds. It reports false if the node's tree is
// still behind the log when the wait ends.
func (k *logKeeper) catchUp(ctx context.Context, size uint64) bool {
	if k.size() >= size {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, catchUpWait)
	defer cancel()
	if total, err := k.store.LogSize(ctx); err == nil && total < size {
		return true
	}
	for {
		k.stepMu.Lock()
		err := k.follow(ctx)
		k.stepMu.Unlock()
		if err == nil && k.size() >= size {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// catchUpWait bounds how long a log request waits for this node's tree to
// reach the size it asks about.
const catchUpWait = 3 * time.Second

// integrate appends leaves for the records not yet in the log, then signs
// a new checkpoint. The append succeeds only if LOG still holds exactly
// the tree's leaves, so two nodes that both believe they write the log
// cannot interleave (the loser follows on its next step). A crash between
// the append and the tree update is harmless: the tree is rebuilt from LOG
// at start, and integration resumes after the highest record sequence
// found there. Letters are logged only once checked to be in their
// mailboxes (checkFiled): a round stops before the first that cannot be
// checked, and the next round goes on from it. The caller holds stepMu.
func (k *logKeeper) integrate(ctx context.Context) error {
	leaves, mail, err := k.pending(ctx)
	if err != nil || len(leaves) == 0 {
		return err
	}
	// Log only letters known to be filed: up to the first that is not,
	// leaving it and what comes after it for the next round.
	filedErr := k.checkFiled(ctx, mail)
	var unfiled *filedError
	if errors.As(filedErr, &unfiled) {
		leaves = leaves[:unfiled.leaf]
	}
	if filedErr != nil && len(leaves) == 0 {
		return filedErr
	}
	first, err := k.store.AppendLog(ctx, k.size(), leaves)
	if errors.Is(err, store.ErrLogMoved) {
		k.log.Debug("another node appended to the log first; following it")
		return filedErr
	}
	if err != nil {
		return err
	}
	k.mu.Lock()
	for i := range leaves {
		leaves[i].Index = first + uint64(i)
		if err := k.add(leaves[i]); err != nil {
			k.mu.Unlock()
			return err
		}
	}
	err = k.sign()
	k.mu.Unlock()
	k.noteSeen(mail, len(leaves))
	return errors.Join(err, filedErr)
}

// noteSeen keeps, for the operator's light, when each channel last
// carried a letter each way, from the letters of a round whose first leaf
// is below logged: the letters now in the log. flushSeen writes them.
func (k *logKeeper) noteSeen(letters []pendingLetter, logged int) {
	k.seenMu.Lock()
	defer k.seenMu.Unlock()
	for _, l := range letters {
		d := store.Direction{From: l.From, To: l.To}
		if l.leaf < logged && l.Time.After(k.seenPending[d]) {
			k.seenPending[d] = l.Time
		}
	}
	select {
	case k.seenWake <- struct{}{}:
	default:
	}
}

// flushSeen writes to the store the times noteSeen kept, each direction at
// most once per seenEvery unless all, so steady traffic costs a write a
// second, not one per round. It gives all its writes a second; while the
// store does not answer (an election), the light waits. What it could
// not write is kept for the next call. Only seenLoop calls it (and tests).
func (k *logKeeper) flushSeen(ctx context.Context, all bool) {
	now := k.now()
	k.seenMu.Lock()
	due := map[store.Direction]time.Time{}
	for d, at := range k.seenPending {
		if all || now.Sub(k.seenWritten[d]) >= seenEvery {
			due[d] = at
			delete(k.seenPending, d)
		}
	}
	k.seenMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var failed error
	for d, at := range due {
		if failed == nil {
			if failed = k.store.NoteSeen(ctx, d, at); failed == nil {
				k.seenWritten[d] = now
				continue
			}
			k.log.Warn("failed to note a channel's last letter", "from", d.From, "to", d.To, "err", failed)
		}
		k.seenMu.Lock()
		if at.After(k.seenPending[d]) {
			k.seenPending[d] = at
		}
		k.seenMu.Unlock()
	}
}

// seenEvery is how stale the operator's time of a channel's last letter
// may be: a light is judged in intervals of a minute or so. seenFlush is
// how often seenLoop looks.
const (
	seenEvery = time.Second
	seenFlush = 250 * time.Millisecond
)

// pendingLetter is a letter among the leaves of a round: its metadata and
// the index of its first leaf.
type pendingLetter struct {
	store.Stored
	leaf int
}

// filedError is checkFiled's failure for the letter whose first leaf is
// at index leaf.
type filedError struct {
	leaf int
	err  error
}

func (e *filedError) Error() string { return e.err.Error() }
func (e *filedError) Unwrap() error { return e.err }

// checkFiled makes sure each letter about to be logged, unless delivered,
// is in its recipient's mailbox (store.EnsureFiled), before it is logged:
// so a letter in the log is listed for delivery even if the node that
// posted it dies while filing it, since the other nodes only follow a log
// that holds it. A letter this node is still filing is waited for (its id
// lock), for at most fileCheckWait. It returns a *filedError for the first
// letter that could not be checked.
func (k *logKeeper) checkFiled(ctx context.Context, letters []pendingLetter) error {
	for _, l := range letters {
		cctx, cancel := context.WithTimeout(ctx, fileCheckWait)
		err := k.store.EnsureFiled(cctx, l.Stored)
		cancel()
		if err != nil {
			return &filedError{leaf: l.leaf, err: fmt.Errorf("failed to check that letter %s is in its mailbox: %w", l.ID, err)}
		}
	}
	return nil
}

// fileCheckWait bounds the wait for one letter's mailbox check, which may
// wait for a post still filing it or for a sender still sending the body
// of a repost.
const fileCheckWait = 3 * time.Second

// pending returns the leaves of the records stored since the last
// integration, in the order the relay took them (Record.Time): rosters,
// envelopes each followed by its posted receipt, and filed receipts,
// merged. So a letter posted before a roster version that removed its
// device is logged before it, which is how the other party tells that it
// came before the removal. A source that had more than logBatch records
// waiting sets where the round stops: no record of the other sources
// taken after its last one is logged before it. It returns the letters
// among the leaves too.
func (k *logKeeper) pending(ctx context.Context) ([]store.LogLeaf, []pendingLetter, error) {
	var groups []logGroup
	var cutoff time.Time
	for _, src := range []string{store.LogRosters, store.LogMail, store.LogReceipts} {
		k.mu.RLock()
		after := k.high[src]
		k.mu.RUnlock()
		recs, err := k.store.RecordsAfter(ctx, src, after, logBatch)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range recs {
			g, err := k.group(src, r)
			if err != nil {
				return nil, nil, err
			}
			groups = append(groups, g)
		}
		if len(recs) == logBatch && (cutoff.IsZero() || recs[len(recs)-1].Time.Before(cutoff)) {
			cutoff = recs[len(recs)-1].Time
		}
	}
	groups = beforeCutoff(groups, cutoff)
	slices.SortStableFunc(groups, func(a, b logGroup) int { return a.t.Compare(b.t) })
	var leaves []store.LogLeaf
	var mail []pendingLetter
	for _, g := range groups {
		if g.mail != nil {
			mail = append(mail, pendingLetter{Stored: *g.mail, leaf: len(leaves)})
		}
		leaves = append(leaves, g.leaves...)
	}
	return leaves, mail, nil
}

// logGroup is the leaves of one record: one, or an envelope and its
// posted receipt.
type logGroup struct {
	t      time.Time
	src    string
	leaves []store.LogLeaf
	mail   *store.Stored // for an envelope
}

// group makes the leaves of record r of source src.
func (k *logKeeper) group(src string, r store.Record) (logGroup, error) {
	g := logGroup{t: r.Time, src: src}
	leaf := func(kind tlog.Kind, raw []byte) {
		g.leaves = append(g.leaves, store.LogLeaf{Data: tlog.LeafData(kind, raw), Source: src, SourceSeq: r.Seq})
	}
	switch src {
	case store.LogRosters:
		leaf(tlog.KindRoster, r.Data)
	case store.LogReceipts:
		leaf(tlog.KindReceipt, r.Data)
	case store.LogMail:
		rc, err := k.posted(*r.Mail)
		if err != nil {
			return g, err
		}
		g.mail = r.Mail
		leaf(tlog.KindEnvelope, r.Data)
		leaf(tlog.KindReceipt, rc.Raw)
	}
	return g, nil
}

// beforeCutoff keeps, of each source's groups (in stream order), those up
// to the first taken after cutoff; all of them if cutoff is zero.
func beforeCutoff(groups []logGroup, cutoff time.Time) []logGroup {
	if cutoff.IsZero() {
		return groups
	}
	stopped := map[string]bool{}
	out := groups[:0]
	for _, g := range groups {
		if stopped[g.src] || g.t.After(cutoff) {
			stopped[g.src] = true
			continue
		}
		out = append(out, g)
	}
	return out
}

// errNotLogged means a leaf is not (yet) in the log.
var errNotLogged = errors.New("not in the log yet")

// proof returns the latest checkpoint shown to party and, for a leaf in it,
// its index and inclusion proof.
func (k *logKeeper) proof(party string, leafData []byte) (cp []byte, index uint64, p [][32]byte, err error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	v := k.viewOf(party)
	index, ok := v.index[tlog.LeafHash(leafData)]
	if !ok {
		return nil, 0, nil, errNotLogged
	}
	p, err = v.tree.InclusionProof(index, v.tree.Size())
	return v.checkpoint, index, p, err
}

// consistency returns a proof that the tree of size m is a prefix of the
// tree of size n, in the view shown to party.
func (k *logKeeper) consistency(party string, m, n uint64) ([][32]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.viewOf(party).tree.ConsistencyProof(m, n)
}

// leaves returns the leaf data of up to count leaves from start, in the
// view shown to party.
func (k *logKeeper) leaves(party string, start, count uint64) [][]byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	data := k.viewOf(party).data
	if start >= uint64(len(data)) {
		return nil
	}
	return slices.Clone(data[start:min(uint64(len(data)), start+count)])
}

// tile returns a C2SP tlog-tiles hash tile or entry bundle of the true
// history.
func (k *logKeeper) tile(entries bool, level int, n uint64, width int) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if !entries {
		return k.main.tree.HashTile(level, n, width)
	}
	first := n * tlog.TileWidth
	if first+uint64(width) > uint64(len(k.main.data)) {
		return nil, errNotLogged
	}
	return tlog.EntryBundle(k.main.data[first : first+uint64(width)]), nil
}

// latest returns the latest signed checkpoint shown to party.
func (k *logKeeper) latest(party string) []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.viewOf(party).checkpoint
}

// size returns the tree size of the true history.
func (k *logKeeper) size() uint64 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.main.tree.Size()
}
