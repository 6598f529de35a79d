package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// bucketInvitations holds the invitations, one key per invitation: its
// lookup in hex.
const bucketInvitations = "invitations"

// States of an invitation.
const (
	InviteAwaitingApproval = "awaiting-approval" // the operator has not approved it yet
	InviteOpen             = "open"              // the invited party may fetch and answer it
	InviteAnswered         = "answered"          // answered; the inviting party has not consented yet
	InviteDone             = "done"              // both consented; the channel is open
	InviteBurnt            = "burnt"             // too many wrong codes from the invited party
	InviteCancelled        = "cancelled"         // the inviting party withdrew it
)

// Invitation is an invitation as the relay keeps it: the invitation's
// bytes as its sender posted them, the answer and consents as they came,
// and the relay's bookkeeping. The store checks nothing; the relay does.
type Invitation struct {
	Lookup      string    `json:"lookup"` // hex; the key
	From        string    `json:"from"`
	For         string    `json:"for"`
	State       string    `json:"state"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
	Misses      int       `json:"misses"` // wrong codes tried by the invited party since it was made
	Raw         []byte    `json:"invitation"`
	Answer      []byte    `json:"answer,omitempty"`
	ConsentFor  []byte    `json:"consent_for,omitempty"`  // the invited party's channel consent
	ConsentFrom []byte    `json:"consent_from,omitempty"` // the inviting party's

	Revision uint64 `json:"-"` // the stored version, for UpdateInvitation
}

// invitationsKV opens the invitations bucket, creating it the first time
// an invitation is stored.
func (s *Store) invitationsKV(ctx context.Context, create bool) (jetstream.KeyValue, error) {
	kv, err := s.js.KeyValue(ctx, bucketInvitations)
	if errors.Is(err, jetstream.ErrBucketNotFound) && create {
		kv, err = s.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucketInvitations, Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = s.js.KeyValue(ctx, bucketInvitations)
		}
	}
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("invitation: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to open invitations: %w", err)
	}
	return kv, nil
}

func checkLookup(lookup string) error {
	if len(lookup) != 64 || !isHex(lookup) {
		return fmt.Errorf("%w: invitation lookup must be 64 hex digits", ErrInvalid)
	}
	return nil
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// PutInvitation stores a new invitation; ErrConflict if one is stored
// under the same lookup already.
func (s *Store) PutInvitation(ctx context.Context, inv *Invitation) error {
	return s.writeInvitation(ctx, inv, true)
}

// GetInvitation returns the invitation stored under lookup, or
// ErrNotFound.
func (s *Store) GetInvitation(ctx context.Context, lookup string) (*Invitation, error) {
	if err := checkLookup(lookup); err != nil {
		return nil, err
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	kv, err := s.invitationsKV(ctx, false)
	if err != nil {
		return nil, err
	}
	return getInvitation(ctx, kv, lookup)
}

func getInvitation(ctx context.Context, kv jetstream.KeyValue, key string) (*Invitation, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("invitation: %w", ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("failed to read invitation: %w", err)
	}
	var inv Invitation
	if err := json.Unmarshal(e.Value(), &inv); err != nil {
		return nil, fmt.Errorf("failed to read invitation %s: %w", key, err)
	}
	inv.Revision = e.Revision()
	return &inv, nil
}

// UpdateInvitation stores a changed invitation if the stored version is
// still inv.Revision, and sets inv.Revision to the new one; ErrConflict if
// another change came first.
func (s *Store) UpdateInvitation(ctx context.Context, inv *Invitation) error {
	return s.writeInvitation(ctx, inv, false)
}

// writeInvitation stores inv, new (create) or over inv.Revision, and sets
// inv.Revision to the version stored.
func (s *Store) writeInvitation(ctx context.Context, inv *Invitation, create bool) error {
	if err := checkLookup(inv.Lookup); err != nil {
		return err
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	kv, err := s.invitationsKV(ctx, create)
	if err != nil {
		return err
	}
	data, _ := json.Marshal(inv)
	var rev uint64
	if create {
		rev, err = kv.Create(ctx, inv.Lookup, data)
	} else {
		rev, err = kv.Update(ctx, inv.Lookup, data, inv.Revision)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) || isWrongLastSeq(err) {
		return fmt.Errorf("invitation %s: %w", inv.Lookup, ErrConflict)
	} else if err != nil {
		return fmt.Errorf("failed to store invitation: %w", err)
	}
	inv.Revision = rev
	return nil
}

// Invitations returns every stored invitation, oldest first.
func (s *Store) Invitations(ctx context.Context) ([]*Invitation, error) {
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	kv, err := s.invitationsKV(ctx, false)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to list invitations: %w", err)
	}
	defer lister.Stop()
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	var out []*Invitation
	for _, k := range slices.Compact(slices.Sorted(slices.Values(keys))) {
		inv, err := getInvitation(ctx, kv, k)
		if errors.Is(err, ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	slices.SortStableFunc(out, func(a, b *Invitation) int { return a.Created.Compare(b.Created) })
	return out, nil
}
