package relay

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"brieftraeger/internal/api"
	"brieftraeger/store"
)

// quorumEvery is how often a cluster node checks that its write streams
// have a quorum (store.Quorate); quorumGrace how long they must lack one
// before the node refuses writes. An election on the majority's side
// (about 1 to 2 s) is waited out, not refused.
const (
	quorumEvery = 500 * time.Millisecond
	quorumGrace = 3 * time.Second
)

// quorumWatch knows whether this node's write streams (on an embedded
// cluster or an external NATS cluster) had a quorum
// at the last check, so that a node cut off from the others refuses posts
// and receipts at once (503: the client tries the next node) instead of
// holding them until the store gives up.
type quorumWatch struct {
	lost atomic.Bool
}

// run checks every quorumEvery until ctx ends. It returns at once on a
// store whose streams have one replica.
func (q *quorumWatch) run(ctx context.Context, st *store.Store, r *Relay) {
	if !st.Replicated() {
		return
	}
	t := time.NewTicker(quorumEvery)
	defer t.Stop()
	var since time.Time // when the quorum was first found missing; zero while it is there
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, readyTimeout)
		err := st.Quorate(cctx)
		cancel()
		missing := errors.Is(err, store.ErrNoQuorum) || errors.Is(err, context.DeadlineExceeded)
		switch {
		case !missing:
			since = time.Time{}
		case since.IsZero():
			since = time.Now()
		}
		lost := missing && time.Since(since) >= quorumGrace
		if q.lost.Swap(lost) != lost {
			if lost {
				r.log.Warn("this node has lost its quorum; refusing writes", "err", err)
			} else {
				r.log.Info("this node has a quorum again")
			}
		}
	}
}

// admit refuses a write while the node has no quorum.
func (q *quorumWatch) admit() error {
	if q.lost.Load() {
		return fail(http.StatusServiceUnavailable, api.CodeUnavailable, "this relay node cannot reach a quorum of the cluster; try another node")
	}
	return nil
}
