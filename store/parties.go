package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PutRoster stores a new version of party's roster, but only if the newest
// stored version is still prev (nil: none stored yet), so that two
// admissions at once cannot both append and fork the party's history; it
// returns ErrConflict if another version was stored in between. Every
// version is kept (stream ROSTERS, subject roster.<party>); the latest one
// wins. The store does not check signatures: that is the caller's job.
func (s *Store) PutRoster(ctx context.Context, party string, roster, prev []byte) error {
	if err := checkParty(party); err != nil {
		return err
	}
	if len(roster) == 0 || len(roster) > MaxRosterBytes {
		return fmt.Errorf("%w: roster must be 1 to %d bytes, got %d", ErrInvalid, MaxRosterBytes, len(roster))
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	var last uint64
	m, err := s.lastFor(ctx, s.rosters, "roster."+party)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case err != nil:
		return fmt.Errorf("failed to read roster of %s: %w", party, err)
	default:
		last = m.Sequence
	}
	if (last == 0) != (prev == nil) || last != 0 && !bytes.Equal(m.Data, prev) {
		return fmt.Errorf("roster of %s: %w", party, ErrConflict)
	}
	ack, err := s.publish(ctx, &nats.Msg{Subject: "roster." + party, Data: roster}, jetstream.WithExpectLastSequencePerSubject(last))
	if isWrongLastSeq(err) {
		return fmt.Errorf("roster of %s: %w", party, ErrConflict)
	} else if err != nil {
		s.rosterCache.Delete(party)
		return fmt.Errorf("failed to store roster of %s: %w", party, err)
	}
	s.cacheRoster(party, ack.Sequence, bytes.Clone(roster))
	return nil
}

// cachedRoster is a roster version as read or stored at a time.
type cachedRoster struct {
	seq  uint64 // ROSTERS sequence
	data []byte
	at   time.Time
}

// cacheRoster remembers version seq of party's roster, unless a newer one
// is remembered already.
func (s *Store) cacheRoster(party string, seq uint64, data []byte) {
	if s.cfg.RosterCache < 0 {
		return
	}
	c := &cachedRoster{seq: seq, data: data, at: time.Now()}
	for {
		old, loaded := s.rosterCache.LoadOrStore(party, c)
		if !loaded || old.(*cachedRoster).seq > seq || s.rosterCache.CompareAndSwap(party, old, c) {
			return
		}
	}
}

// Roster returns the latest roster version of party, or ErrNotFound if the
// party was never admitted.
func (s *Store) Roster(ctx context.Context, party string) ([]byte, error) {
	return s.roster(ctx, party, false)
}

// CachedRoster is Roster for the paths that read rosters on every request:
// it answers from the version read or stored within Config.RosterCache,
// so a roster stored through another cluster node may take that long to
// show. A roster to build on, as for admitting the next, is read with
// Roster.
func (s *Store) CachedRoster(ctx context.Context, party string) ([]byte, error) {
	return s.roster(ctx, party, true)
}

func (s *Store) roster(ctx context.Context, party string, cached bool) ([]byte, error) {
	if err := checkParty(party); err != nil {
		return nil, err
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	if c, ok := s.rosterCache.Load(party); cached && ok && time.Since(c.(*cachedRoster).at) < s.cfg.RosterCache {
		return c.(*cachedRoster).data, nil
	}
	m, err := s.lastFor(ctx, s.rosters, "roster."+party)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("roster of %s: %w", party, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read roster of %s: %w", party, err)
	}
	s.cacheRoster(party, m.Sequence, m.Data)
	return m.Data, nil
}

// RosterHistory returns every roster version of party, oldest first, so
// that a client can check the whole signed chain. ErrNotFound if the party
// was never admitted.
func (s *Store) RosterHistory(ctx context.Context, party string) ([][]byte, error) {
	if err := checkParty(party); err != nil {
		return nil, err
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var versions [][]byte
	err = s.scan(ctx, s.rosters, "roster."+party, 0, false, func(m jetstream.Msg) error {
		versions = append(versions, m.Data())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to read rosters of %s: %w", party, err)
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("roster of %s: %w", party, ErrNotFound)
	}
	return versions, nil
}

// Parties returns the names of all parties with a roster, sorted.
func (s *Store) Parties(ctx context.Context) ([]string, error) {
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	info, err := s.rosters.Info(ctx, jetstream.WithSubjectFilter("roster.*"))
	if err != nil {
		return nil, fmt.Errorf("failed to list parties: %w", err)
	}
	parties := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		parties = append(parties, strings.TrimPrefix(subj, "roster."))
	}
	slices.Sort(parties)
	return parties, nil
}

// channelKey is the KV key of the channel between a and b: the two names
// sorted and joined by a dot.
func channelKey(a, b string) (string, error) {
	if err := checkParty(a); err != nil {
		return "", err
	}
	if err := checkParty(b); err != nil {
		return "", err
	}
	if a == b {
		return "", fmt.Errorf("%w: a channel needs two different parties, got %q twice", ErrInvalid, a)
	}
	if a > b {
		a, b = b, a
	}
	return a + "." + b, nil
}

// OpenChannel records that parties a and b may exchange letters. It is
// symmetric ((a,b) is (b,a)) and idempotent.
func (s *Store) OpenChannel(ctx context.Context, a, b string) error {
	key, err := channelKey(a, b)
	if err != nil {
		return err
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	if _, err := s.channels.Create(ctx, key, []byte("open")); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("failed to open channel %s: %w", key, err)
	}
	return nil
}

// ChannelOpen reports whether a channel between a and b has been opened.
func (s *Store) ChannelOpen(ctx context.Context, a, b string) (bool, error) {
	key, err := channelKey(a, b)
	if err != nil {
		if a == b && checkParty(a) == nil {
			return false, nil
		}
		return false, err
	}
	if _, ok := s.openChannels.Load(key); ok {
		return true, nil
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return false, err
	}
	defer done()
	_, err = s.channels.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("failed to read channel %s: %w", key, err)
	}
	s.openChannels.Store(key, struct{}{})
	return true, nil
}

// Channels returns every open channel as a sorted pair; the list is sorted.
func (s *Store) Channels(ctx context.Context) ([][2]string, error) {
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	lister, err := s.channels.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to list channels: %w", err)
	}
	defer lister.Stop()
	var out [][2]string
	for key := range lister.Keys() {
		a, b, ok := strings.Cut(key, ".")
		if !ok {
			continue
		}
		out = append(out, [2]string{a, b})
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("failed to list channels: %w", err)
	}
	slices.SortFunc(out, func(x, y [2]string) int {
		if c := strings.Compare(x[0], y[0]); c != 0 {
			return c
		}
		return strings.Compare(x[1], y[1])
	})
	return slices.Compact(out), nil // a listing may repeat a key
}
