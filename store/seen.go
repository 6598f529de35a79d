package store

// When each channel last carried a letter, each way: what the relay
// operator's light is judged from. It is kept in the meta bucket, under
// seen.<from>.<to> (unix nanoseconds, in decimal), so that every node of a
// cluster, and a node after its restart, shows the same light. The node
// that integrates the log writes it after each round (NoteSeen), from the
// letters it logged; a value only ever moves forward.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"brieftraeger/identity"
)

const seenPrefix = "seen."

// Direction is one way along a channel: letters from From to To.
type Direction struct{ From, To string }

// NoteSeen records that a letter went along d at at, unless a later one is
// recorded already.
func (s *Store) NoteSeen(ctx context.Context, d Direction, at time.Time) error {
	if err := errors.Join(identity.CheckName("party", d.From), identity.CheckName("party", d.To)); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	key, val := seenPrefix+d.From+"."+d.To, []byte(strconv.FormatInt(at.UnixNano(), 10))
	// Compare and set: a node that stopped leading the log mid-round must
	// not set an older time over a newer one. A read from a replica that
	// is behind makes the set fail, and the loop reads again.
	for range 5 {
		e, err := s.meta.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = s.meta.Create(ctx, key, val)
		case err != nil:
		case !parseSeen(e.Value()).Before(at):
			return nil
		default:
			_, err = s.meta.Update(ctx, key, val, e.Revision())
		}
		if err == nil {
			return nil
		}
		// Create of a key that exists, or Update of one that changed
		// (nats.go reports both codes a stream uses for it as these).
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("failed to note the last letter from %s to %s: %w", d.From, d.To, err)
		}
		// Give a replica that is behind time to catch up before reading again.
		select {
		case <-ctx.Done():
			return fmt.Errorf("failed to note the last letter from %s to %s: %w", d.From, d.To, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("failed to note the last letter from %s to %s: it kept changing", d.From, d.To)
}

// Seen returns, for every direction that has carried a letter, when it
// last did. It gives up after the store's request timeout, so that a
// store without a leader for its meta bucket cannot hold up a caller that
// has no deadline of its own (a /metrics scrape).
func (s *Store) Seen(ctx context.Context) (map[Direction]time.Time, error) {
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, s.requestTimeout())
	defer cancel()
	w, err := s.meta.WatchFiltered(ctx, []string{seenPrefix + ">"}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("failed to read when channels last carried letters: %w", err)
	}
	defer w.Stop()
	out := map[Direction]time.Time{}
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				return out, nil
			}
			from, to, ok := strings.Cut(strings.TrimPrefix(e.Key(), seenPrefix), ".")
			if at := parseSeen(e.Value()); ok && !at.IsZero() {
				out[Direction{from, to}] = at
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("failed to read when channels last carried letters: %w", ctx.Err())
		}
	}
}

// parseSeen decodes a seen value; zero if it is not one.
func parseSeen(v []byte) time.Time {
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
