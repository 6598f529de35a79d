package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Receipt kinds, as in the envelope format.
const (
	ReceiptPosted       uint8 = 1 // signed by the relay
	ReceiptDelivered    uint8 = 2 // signed by the receiving device; takes the letter out of Pending
	ReceiptAcknowledged uint8 = 3 // signed by a person of the receiving party
)

// StoredReceipt is a receipt as filed: the opaque signed bytes, the letter
// they are about, their kind and their RCPT stream sequence.
type StoredReceipt struct {
	Seq     uint64 // RCPT stream sequence; Receipts pages by it
	ID      string // letter id
	Kind    uint8
	Receipt []byte
}

func receiptSubject(sender string, kind uint8, id string) string {
	return "rcpt." + sender + "." + strconv.Itoa(int(kind)) + "." + id
}

// PutReceipt files a receipt of kind for letter id, to be read by the
// sender party. The letter must be stored and sent by sender. It is
// idempotent per (id, kind): a second put of the same kind returns the
// first receipt with ErrDuplicate. Filing a delivered receipt takes the
// letter out of Pending.
func (s *Store) PutReceipt(ctx context.Context, id string, sender string, kind uint8, receipt []byte) (StoredReceipt, error) {
	if err := checkID(id); err != nil {
		return StoredReceipt{}, err
	}
	if err := checkParty(sender); err != nil {
		return StoredReceipt{}, err
	}
	if kind < ReceiptPosted || kind > ReceiptAcknowledged {
		return StoredReceipt{}, fmt.Errorf("%w: receipt kind %d is not 1..3", ErrInvalid, kind)
	}
	if len(receipt) == 0 || len(receipt) > MaxReceiptBytes {
		return StoredReceipt{}, fmt.Errorf("%w: receipt must be 1 to %d bytes, got %d", ErrInvalid, MaxReceiptBytes, len(receipt))
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return StoredReceipt{}, err
	}
	defer done()
	unlock, err := s.lockForReceipt(ctx, id)
	if err != nil {
		return StoredReceipt{}, err
	}
	defer unlock()

	env, err := s.lookup(ctx, id)
	if err != nil {
		return StoredReceipt{}, err
	}
	if env.From != sender {
		return StoredReceipt{}, fmt.Errorf("%w: letter %s was sent by %s, not %s", ErrInvalid, id, env.From, sender)
	}
	subj := receiptSubject(sender, kind, id)
	if first, err := s.receiptAt(ctx, subj); err == nil {
		if kind == ReceiptDelivered {
			// Finish a purge that may have failed the first time.
			if err := s.dropBox(ctx, env.Stored); err != nil {
				return first, err
			}
		}
		return first, ErrDuplicate
	} else if !errors.Is(err, ErrNotFound) {
		return StoredReceipt{}, err
	}

	ctx, cancel := commitContext(ctx)
	defer cancel()
	s.commitMu.RLock()
	defer s.commitMu.RUnlock()
	msg := nats.NewMsg(subj)
	msg.Header.Set(hdrID, id)
	msg.Header.Set(hdrKind, strconv.Itoa(int(kind)))
	msg.Data = receipt
	sr := StoredReceipt{ID: id, Kind: kind, Receipt: receipt}
	ack, err := s.publish(ctx, msg, jetstream.WithMsgID(id+"."+strconv.Itoa(int(kind))),
		jetstream.WithExpectLastSequencePerSubject(0))
	switch {
	case err == nil && !ack.Duplicate:
		sr.Seq = ack.Sequence
	case err == nil || isWrongLastSeq(err):
		// Someone else filed it first; the id lock rules this out inside one process.
		first, lerr := s.receiptAt(ctx, subj)
		if lerr != nil {
			return StoredReceipt{}, fmt.Errorf("failed to read the first receipt: %w", lerr)
		}
		return first, ErrDuplicate
	default:
		// The outcome is unknown; look whether ours got stored.
		first, lerr := s.receiptAt(ctx, subj)
		switch {
		case errors.Is(lerr, ErrNotFound):
			return StoredReceipt{}, fmt.Errorf("failed to store receipt: %w", err)
		case lerr != nil:
			if kind == ReceiptDelivered {
				s.markDirty("receipt", err)
			}
			return StoredReceipt{}, fmt.Errorf("failed to store receipt: %w", err)
		}
		sr = first
	}
	storeMax(&s.rcptSeq, sr.Seq)
	if kind == ReceiptDelivered {
		if err := s.dropBox(ctx, env.Stored); err != nil {
			s.markDirty("mailbox purge", err)
			return sr, fmt.Errorf("receipt stored but letter still in the mailbox: %w", err)
		}
	}
	s.log.Debug("receipt stored", "id", id, "kind", kind, "seq", sr.Seq)
	return sr, nil
}

// lockForReceipt locks letter id for a receipt, waiting at most
// s.receiptWait: a letter whose filing is held up (its node cut off from
// the cluster, say) answers ErrUnavailable, so that the device files the
// receipt through another node instead of waiting out the filing; the
// filing then finds the receipt and takes its entry out (see Watch).
func (s *Store) lockForReceipt(ctx context.Context, id string) (func(), error) {
	lctx, cancel := context.WithTimeout(ctx, s.receiptWait)
	defer cancel()
	unlock, err := s.locks.lock(lctx, id)
	if err != nil && ctx.Err() == nil {
		return nil, fmt.Errorf("%w: letter %s is still being filed after %v", ErrUnavailable, id, s.receiptWait)
	}
	return unlock, err
}

// receiptWait is how long a receipt waits for its letter's filing.
const receiptWait = 5 * time.Second

// dropBox removes the BOX entry of st, if any.
func (s *Store) dropBox(ctx context.Context, st Stored) error {
	if err := s.purge(ctx, s.box, boxSubject(st)); err != nil {
		return fmt.Errorf("failed to remove mailbox entry: %w", err)
	}
	return nil
}

// receiptAt reads the receipt on subject subj, or returns ErrNotFound.
func (s *Store) receiptAt(ctx context.Context, subj string) (StoredReceipt, error) {
	m, err := s.lastFor(ctx, s.receipts, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return StoredReceipt{}, fmt.Errorf("receipt %s: %w", subj, ErrNotFound)
	}
	if err != nil {
		return StoredReceipt{}, fmt.Errorf("failed to read receipt %s: %w", subj, err)
	}
	return decodeReceipt(m.Sequence, m.Header, m.Data)
}

func decodeReceipt(seq uint64, h nats.Header, data []byte) (StoredReceipt, error) {
	kind, err := strconv.ParseUint(h.Get(hdrKind), 10, 8)
	if err != nil {
		return StoredReceipt{}, fmt.Errorf("failed to decode receipt %d: %w", seq, err)
	}
	return StoredReceipt{Seq: seq, ID: h.Get(hdrID), Kind: uint8(kind), Receipt: data}, nil
}

// hasReceipt reports whether a receipt of kind for letter id sent by sender
// is stored.
func (s *Store) hasReceipt(ctx context.Context, sender string, kind uint8, id string) (bool, error) {
	_, err := s.lastFor(ctx, s.receipts, receiptSubject(sender, kind, id))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("failed to read receipts of %s: %w", id, err)
	}
	return true, nil
}

// Receipts returns the receipts for letters sent by party sender whose RCPT
// sequence is above afterSeq, in order. Pass the last Seq seen to page on.
func (s *Store) Receipts(ctx context.Context, sender string, afterSeq uint64) ([]StoredReceipt, error) {
	if err := checkParty(sender); err != nil {
		return nil, err
	}
	if afterSeq == math.MaxUint64 {
		return nil, nil
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var out []StoredReceipt
	err = s.scan(ctx, s.receipts, "rcpt."+sender+".*.*", afterSeq+1, false, func(m jetstream.Msg) error {
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		sr, err := decodeReceipt(meta.Sequence.Stream, m.Headers(), m.Data())
		if err != nil {
			return err
		}
		out = append(out, sr)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to read receipts of %s: %w", sender, err)
	}
	return out, nil
}
