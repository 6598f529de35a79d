package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestInvitations(t *testing.T) {
	s := openStore(t, Config{})
	ctx := context.Background()
	if list, err := s.Invitations(ctx); err != nil || len(list) != 0 {
		t.Fatalf("before any: %v, %v", list, err)
	}
	if _, err := s.GetInvitation(ctx, strings.Repeat("a", 64)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("before any: %v", err)
	}
	inv := &Invitation{Lookup: strings.Repeat("ab", 32), From: "w", For: "t", State: InviteOpen, Created: time.Now(), Raw: []byte{1, 2}}
	if err := s.PutInvitation(ctx, inv); err != nil {
		t.Fatal(err)
	}
	again := *inv
	if err := s.PutInvitation(ctx, &again); !errors.Is(err, ErrConflict) {
		t.Fatalf("second put: %v", err)
	}
	got, err := s.GetInvitation(ctx, inv.Lookup)
	if err != nil || got.From != "w" || got.State != InviteOpen || got.Revision != inv.Revision {
		t.Fatalf("%+v, %v", got, err)
	}
	got.State = InviteAnswered
	if err := s.UpdateInvitation(ctx, got); err != nil {
		t.Fatal(err)
	}
	// An update built on the old version is refused and changes nothing.
	inv.State = InviteBurnt
	if err := s.UpdateInvitation(ctx, inv); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	list, err := s.Invitations(ctx)
	if err != nil || len(list) != 1 || list[0].State != InviteAnswered {
		t.Fatalf("%+v, %v", list, err)
	}
	if err := s.PutInvitation(ctx, &Invitation{Lookup: "xyz"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad lookup: %v", err)
	}
}
