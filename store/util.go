package store

// Helpers: stream scans, per-id locks, name checks and the server logger.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

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
	pending, started := info.NumPending, time.Now()
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
		err = batch.Error()
		if got == 0 && errors.Is(err, nats.ErrNoResponders) && time.Since(started) < consumerStartWait {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("failed to fetch: %w", err)
		}
		if got == 0 {
			return nil // the rest was removed while scanning
		}
	}
	return nil
}

// consumerStartWait bounds how long scan tries again a fetch that has no
// responders: on a cluster a consumer just created may not be running yet
// on the node that holds it.
const consumerStartWait = 3 * time.Second

// idLocks is a set of locks keyed by letter id.
type idLocks struct {
	mu sync.Mutex
	m  map[string]*idLock
}

// idLock is one id's lock: held while its channel holds a token.
type idLock struct {
	held chan struct{}
	refs int
}

// lock locks id and returns its unlock function, or ctx's error if ctx
// ends first.
func (l *idLocks) lock(ctx context.Context, id string) (func(), error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*idLock)
	}
	e := l.m[id]
	if e == nil {
		e = &idLock{held: make(chan struct{}, 1)}
		l.m[id] = e
	}
	e.refs++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(l.m, id)
		}
		l.mu.Unlock()
	}
	select {
	case e.held <- struct{}{}:
		return func() {
			<-e.held
			release()
		}, nil
	case <-ctx.Done():
		release()
		return nil, fmt.Errorf("letter %s is busy: %w", id, ctx.Err())
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
