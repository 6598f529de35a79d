package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// MaxEpochBundleBytes bounds one epoch bundle: room for a stanza to each
// of a roster's 256 devices.
const MaxEpochBundleBytes = 512 << 10

// A party's epoch bundles (its epoch secrets sealed to its devices; the
// store cannot read them) are kept in stream EPOCHS, subject
// epoch.<party>.<n>. Unlike the other streams, messages are removed from
// it: a replaced or destroyed bundle is erased with JetStream's secure
// delete, which overwrites the message's record in the stream's block
// file with random bytes.

func epochsConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name: streamEpochs, Subjects: []string{"epoch.*.*"}, Storage: jetstream.FileStorage, Replicas: replicas,
		AllowDirect: true, DenyPurge: true,
	}
}

func epochSubject(party string, n uint32) (string, error) {
	if err := checkParty(party); err != nil {
		return "", err
	}
	if n == 0 {
		return "", fmt.Errorf("%w: epoch numbers start at 1", ErrInvalid)
	}
	return "epoch." + party + "." + strconv.FormatUint(uint64(n), 10), nil
}

// PutEpochBundle stores the bundle of party's epoch n, durably, and
// erases any bundle stored for it before.
func (s *Store) PutEpochBundle(ctx context.Context, party string, n uint32, bundle []byte) error {
	subj, err := epochSubject(party, n)
	if err != nil {
		return err
	}
	if len(bundle) == 0 || len(bundle) > MaxEpochBundleBytes {
		return fmt.Errorf("%w: an epoch bundle must be 1 to %d bytes, got %d", ErrInvalid, MaxEpochBundleBytes, len(bundle))
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	ack, err := s.publish(ctx, &nats.Msg{Subject: subj, Data: bundle})
	if err != nil {
		return fmt.Errorf("failed to store epoch %d of %s: %w", n, party, err)
	}
	return s.eraseEpoch(ctx, party, n, ack.Sequence)
}

// EpochBundle returns the bundle of party's epoch n, or ErrNotFound.
func (s *Store) EpochBundle(ctx context.Context, party string, n uint32) ([]byte, error) {
	subj, err := epochSubject(party, n)
	if err != nil {
		return nil, err
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	m, err := s.lastFor(ctx, s.epochs, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("epoch %d of %s: %w", n, party, ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("failed to read epoch %d of %s: %w", n, party, err)
	}
	return m.Data, nil
}

// DeleteEpochBundle erases every bundle stored for party's epoch n
// (secure delete). Deleting a bundle not stored is no error.
func (s *Store) DeleteEpochBundle(ctx context.Context, party string, n uint32) error {
	if _, err := epochSubject(party, n); err != nil {
		return err
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	return s.eraseEpoch(ctx, party, n, 0)
}

// eraseEpoch securely deletes the messages of party's epoch n other than
// the one at sequence keep (0: all of them), newest first.
func (s *Store) eraseEpoch(ctx context.Context, party string, n uint32, keep uint64) error {
	subj, _ := epochSubject(party, n)
	seqs, err := s.epochSeqs(ctx, subj)
	if err != nil {
		return err
	}
	for _, seq := range seqs {
		if seq == keep {
			continue
		}
		if err := s.epochs.SecureDeleteMsg(ctx, seq); err != nil && !isMissing(err) {
			return fmt.Errorf("failed to erase epoch %d of %s: %w", n, party, err)
		}
	}
	return nil
}

// epochSeqs returns the sequences of the messages stored on subj.
func (s *Store) epochSeqs(ctx context.Context, subj string) ([]uint64, error) {
	var seqs []uint64
	err := s.scan(ctx, s.epochs, subj, 0, true, func(m jetstream.Msg) error {
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		seqs = append(seqs, md.Sequence.Stream)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to list %s: %w", subj, err)
	}
	return seqs, nil
}

// isMissing reports whether a delete failed because the message is gone
// already (another call erased it).
func isMissing(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeMessageNotFound ||
		errors.Is(err, jetstream.ErrMsgNotFound) || strings.Contains(err.Error(), "no message found")
}

// EpochBundles returns the numbers of party's epochs with a stored
// bundle, in increasing order.
func (s *Store) EpochBundles(ctx context.Context, party string) ([]uint32, error) {
	if err := checkParty(party); err != nil {
		return nil, err
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	prefix := "epoch." + party + "."
	info, err := s.epochs.Info(ctx, jetstream.WithSubjectFilter(prefix+"*"))
	if err != nil {
		return nil, fmt.Errorf("failed to list epochs of %s: %w", party, err)
	}
	var out []uint32
	for subj := range info.State.Subjects {
		if n, err := strconv.ParseUint(strings.TrimPrefix(subj, prefix), 10, 32); err == nil {
			out = append(out, uint32(n))
		}
	}
	slices.Sort(out)
	return out, nil
}
