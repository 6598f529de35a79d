package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestBodyRefusedByJetStream limits the object store's stream so that
// JetStream refuses a chunk of a large body: Post must return promptly
// with ErrNoSpace (by Classify) and leave nothing stored.
func TestBodyRefusedByJetStream(t *testing.T) {
	s := openStore(t, Config{})
	ctx := context.Background()
	cfg := s.bodyStream.CachedInfo().Config
	cfg.MaxBytes, cfg.Discard = 300<<10, jetstream.DiscardNew
	if _, err := s.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	p := newPost(1, "alice", "bob", 3, bytes.Repeat([]byte("x"), 2<<20))
	done := make(chan error, 1)
	go func() {
		_, err := s.Post(ctx, p)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || Classify(err) != ErrNoSpace {
			t.Fatalf("Post of a body JetStream refuses: %v (Classify: %v), want ErrNoSpace", err, Classify(err))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Post of a body JetStream refuses did not return within 10 s")
	}
	assertNothingStored(t, s, p.ID, 0)
}

func TestClassify(t *testing.T) {
	apiErr := func(code jetstream.ErrorCode, desc string) error {
		return fmt.Errorf("nats: %w", &jetstream.APIError{Code: 503, ErrorCode: code, Description: desc})
	}
	for _, c := range []struct {
		err  error
		want error
	}{
		{nil, nil},
		{ErrNotFound, nil},
		{fmt.Errorf("%w: bad id", ErrInvalid), nil},
		{errors.New("some bug"), nil},
		{apiErr(jsInsufficientResources, "insufficient resources"), ErrNoSpace},
		{apiErr(jsStorageResourcesExceeded, "insufficient storage resources available"), ErrNoSpace},
		{apiErr(jsAccountResourcesExceeded, "resource limits exceeded for account"), ErrNoSpace},
		{apiErr(jsStreamStoreFailed, "write /data/1.blk: no space left on device"), ErrNoSpace},
		{apiErr(jsStreamStoreFailed, "maximum bytes exceeded"), ErrNoSpace},
		{fmt.Errorf("failed to write: %w", syscall.ENOSPC), ErrNoSpace},
		{apiErr(jsNotEnabled, "JetStream not enabled"), ErrUnavailable},
		{apiErr(10008, "stream is offline"), ErrUnavailable},
		{fmt.Errorf("failed to read: %w", nats.ErrNoResponders), ErrUnavailable},
		{fmt.Errorf("failed to read: %w", nats.ErrTimeout), ErrUnavailable},
		{fmt.Errorf("failed to read: %w", context.DeadlineExceeded), ErrUnavailable},
		{jetstream.ErrNoStreamResponse, ErrUnavailable},
		{ErrClosed, ErrUnavailable},
	} {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestSpace(t *testing.T) {
	s, err := Open(context.Background(), Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close() // fails: JetStream is shut down below
	sp, err := s.Space()
	if err != nil {
		t.Fatal(err)
	}
	if sp.DiskSize == 0 || sp.DiskFree == 0 || sp.DiskFree > sp.DiskSize || sp.EngineFree == 0 || sp.Free() > sp.DiskFree {
		t.Fatalf("implausible space: %+v", sp)
	}
	mustPost(t, s, newPost(1, "alice", "bob", 3, bytes.Repeat([]byte("x"), 64<<10)))
	// The mailbox entry is filed before JetStream goes down below; a
	// filing cut off by that would retry until its 30 s deadline, and
	// Close waits for it.
	waitFiled(t, s, "bob")
	after, err := s.Space()
	if err != nil {
		t.Fatal(err)
	}
	if after.EngineFree >= sp.EngineFree {
		t.Errorf("JetStream's room did not shrink with a 64 KiB letter: %d, then %d", sp.EngineFree, after.EngineFree)
	}
	if err := s.Server().ShutdownJetStream(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Space(); Classify(err) != ErrUnavailable {
		t.Errorf("Space with JetStream down: %v, want ErrUnavailable", err)
	}
}
