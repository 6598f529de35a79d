package relay

// Disk space: the reserve that keeps delivery going when the disk fills,
// and the answers to a store that is full or does not answer.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"brieftraeger/internal/api"
	"brieftraeger/store"
)

const (
	// DefaultMinFreeBytes is the largest default reserve: with
	// Config.MinFreeBytes zero, the relay keeps the smaller of 1 GiB and
	// DefaultMinFreePercent of its file system free for delivery.
	DefaultMinFreeBytes = 1 << 30
	// DefaultMinFreePercent is the default reserve as a share of the
	// file system's size, for small disks.
	DefaultMinFreePercent = 5

	// spaceFresh is how long a measurement of the free space is reused.
	spaceFresh = time.Second
	// retryAfter is the Retry-After, in seconds, of a 503 answer.
	retryAfter = "5"
)

// spaceGuard refuses new envelopes while the store's free space is below
// the reserve, so that what the reserve keeps free serves the receipts,
// log leaves and checkpoints of the letters already stored. It measures at
// most once per spaceFresh.
type spaceGuard struct {
	store   *store.Store
	minFree atomic.Int64 // Config.MinFreeBytes: 0 default, negative off
	now     func() time.Time
	log     *slog.Logger

	mu  sync.Mutex
	at  time.Time // when sp and err were measured; zero: never
	sp  store.Space
	err error
}

func newSpaceGuard(st *store.Store, minFree int64, now func() time.Time, log *slog.Logger) *spaceGuard {
	g := &spaceGuard{store: st, now: now, log: log}
	g.minFree.Store(minFree)
	return g
}

// read returns the store's space, measured within spaceFresh.
func (g *spaceGuard) read() (store.Space, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if g.at.IsZero() || now.Sub(g.at) >= spaceFresh || now.Before(g.at) {
		g.sp, g.err = g.store.Space()
		g.at = now
	}
	return g.sp, g.err
}

// reserve is the free space, in bytes, kept for delivery on a store of sp.
func (g *spaceGuard) reserve(sp store.Space) uint64 {
	switch m := g.minFree.Load(); {
	case m < 0:
		return 0
	case m > 0:
		return uint64(m)
	}
	return min(DefaultMinFreeBytes, sp.DiskSize/100*DefaultMinFreePercent)
}

// admit returns nil if a new envelope of size bytes fits above the
// reserve. A store whose space cannot be measured (an external NATS
// server, a failed statfs) is not held back here; JetStream's own limits
// still refuse what does not fit.
func (g *spaceGuard) admit(size uint64) error {
	if g.minFree.Load() < 0 {
		return nil
	}
	sp, err := g.read()
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return nil
	case err != nil && store.Classify(err) != nil:
		return err
	case err != nil:
		g.log.Warn("failed to measure free space", "err", err)
		return nil
	}
	free, reserve := sp.Free(), g.reserve(sp)
	if free < reserve || free-reserve < size {
		return fail(http.StatusInsufficientStorage, api.CodeStorageFull,
			"the relay is out of storage space (%d bytes free, %d kept for delivering stored letters); it refuses new letters until its operator frees space", free, reserve)
	}
	return nil
}

// note is a line for /readyz: empty while new envelopes are admitted.
func (g *spaceGuard) note() string {
	if err := g.admit(0); err != nil {
		return "storage full: new letters are refused, stored letters are still delivered\n"
	}
	return ""
}

// writeMetrics writes the free space and the reserve, for a store whose
// space can be measured.
func (g *spaceGuard) writeMetrics(w io.Writer) {
	sp, err := g.read()
	if err != nil {
		return
	}
	fmt.Fprintf(w, "# HELP brief_store_free_bytes Room for new data in the store: the smaller of the disk's free space and JetStream's own limit.\n")
	fmt.Fprintf(w, "# TYPE brief_store_free_bytes gauge\nbrief_store_free_bytes %d\n", sp.Free())
	fmt.Fprintf(w, "# HELP brief_store_reserve_bytes Free space kept for delivery: below it new envelopes are refused (storage_full).\n")
	fmt.Fprintf(w, "# TYPE brief_store_reserve_bytes gauge\nbrief_store_reserve_bytes %d\n", g.reserve(sp))
}

// storeFailure turns an error of the store into the answer for it: 507
// storage_full when the store is out of space, 503 unavailable (to be
// retried) otherwise.
func (r *Relay) storeFailure(req *http.Request, err error) *apiError {
	switch store.Classify(err) {
	case store.ErrNoSpace:
		r.log.Warn("request refused: store out of space", "path", req.URL.Path, "err", err)
		return fail(http.StatusInsufficientStorage, api.CodeStorageFull,
			"the relay is out of storage space; it refuses new letters until its operator frees space")
	case store.ErrUnavailable:
		r.log.Error("request failed: store unavailable", "path", req.URL.Path, "err", err)
		return fail(http.StatusServiceUnavailable, api.CodeUnavailable, "relay storage is not answering; try again later")
	}
	r.log.Error("request failed", "path", req.URL.Path, "err", err)
	return fail(http.StatusServiceUnavailable, api.CodeUnavailable, "relay storage unavailable")
}

// storeReady checks that the store answers: JetStream is running (known
// at once from the space measurement) and answers a query.
func (r *Relay) storeReady(ctx context.Context) error {
	if _, err := r.space.read(); store.Classify(err) == store.ErrUnavailable {
		return err
	}
	if _, err := r.cfg.Store.MailCount(ctx); err != nil {
		return err
	}
	return r.cfg.Store.Quorate(ctx)
}
