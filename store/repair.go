package store

// Crash repair: the checkpoint of MAIL and RCPT sequences up to which the
// mailbox (BOX) is known to be right, and the replay that rebuilds it after
// a crash. See "The mailbox (BOX) and crashes" in the package documentation.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// checkpoint records how far BOX is known to agree with MAIL and RCPT.
type checkpoint struct{ mail, rcpt uint64 }

// checkpointKey is the meta key of this node's checkpoint. On a cluster,
// and among stores sharing an external NATS (Config.Name), each keeps its
// own: a node's checkpoint says that every commit this node made up to it
// is whole, which is what its repair after a crash relies on; it says
// nothing of the commits other nodes have half done.
func (s *Store) checkpointKey() string {
	switch {
	case s.cfg.Cluster != nil:
		return keyCheckpoint + "." + s.cfg.Cluster.Node
	case s.cfg.Name != "":
		return keyCheckpoint + "." + s.cfg.Name
	}
	return keyCheckpoint
}

func (s *Store) loadCheckpoint(ctx context.Context) (checkpoint, error) {
	e, err := s.meta.Get(ctx, s.checkpointKey())
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
	if _, err := s.meta.Put(ctx, s.checkpointKey(), fmt.Appendf(nil, "%d %d", cp.mail, cp.rcpt)); err != nil {
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
			return s.purge(ctx, s.box, "box.*.*."+id)
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
