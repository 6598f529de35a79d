package client

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"brieftraeger/letter"
	"brieftraeger/tlog"
)

// GossipMediaType is the media type of the part in which a letter carries
// the sending device's view of the relay's log: the checkpoint it accepted
// last, cosigned (C2SP tlog-cosignature) with its device key. A relay that
// shows the two parties different histories is caught by the next letter
// either side opens, since the relay cannot prove the two views consistent.
const GossipMediaType = "application/vnd.brieftraeger.checkpoint"

// gossipName is the file name of the gossip part.
const gossipName = "relay-log-checkpoint.txt"

// witnessName is the name under which this device cosigns checkpoints.
func witnessName(party, device string) string { return party + "/" + device }

// gossipAttachment returns the gossip part for a letter, or nil if this
// device has accepted no checkpoint yet or its relay keeps no log.
func (p *Party) gossipAttachment() (*letter.Attachment, error) {
	if p.relay.LogKey == "" {
		return nil, nil
	}
	cp, err := p.LoggedCheckpoint()
	if err != nil || cp == nil {
		return nil, err
	}
	line, err := tlog.Cosign(cp.Note, witnessName(p.keys.Party, p.keys.Device), p.keys.Sign, p.now())
	if err != nil {
		return nil, fmt.Errorf("failed to cosign checkpoint: %w", err)
	}
	data := append(bytes.Clone(cp.Note), line...)
	return &letter.Attachment{Name: gossipName, MediaType: GossipMediaType, Size: int64(len(data)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}, nil
}

// Checkpoint reports whether a part is the log checkpoint that Send
// appends to every letter, the one CheckGossip checks: of its name and
// media type both. Another part of that media type is an attachment.
func (pt ReceivedPart) Checkpoint() bool {
	return pt.MediaType == GossipMediaType && pt.Name == gossipName
}

// CheckGossip checks the sender's view of the relay's log carried by an
// opened letter against this device's own: the checkpoint must be signed by
// the relay's log key and cosigned by the sending device, and the relay
// must prove it consistent with the checkpoint this device accepted (a
// newer one is then accepted). A fork is an *InconsistentLogError. A letter
// without gossip passes.
func (p *Party) CheckGossip(ctx context.Context, rec *Received) error {
	var data []byte
	for _, part := range rec.Parts {
		if part.Checkpoint() {
			var err error
			if data, err = p.readSmallPart(rec, part, "log checkpoint"); err != nil {
				return err
			}
		}
	}
	if data == nil {
		return nil
	}
	sender, err := p.Contact(rec.From)
	if err != nil {
		return err
	}
	dev := sender.Device(rec.Device)
	if dev == nil {
		return fmt.Errorf("letter %s: device %q is not on the roster of %q", rec.ID, rec.Device, rec.From)
	}
	if _, err := tlog.VerifyCosignature(data, witnessName(rec.From, rec.Device), dev.Key); err != nil {
		return fmt.Errorf("letter %s: the log checkpoint is not cosigned by its sender: %w", rec.ID, err)
	}
	return p.compareView(ctx, data)
}

// compareView checks another party's checkpoint against this device's.
func (p *Party) compareView(ctx context.Context, note []byte) error {
	origin, v, err := p.logVerifier()
	if err != nil {
		return err
	}
	theirs, err := tlog.ParseCheckpoint(note, origin, v)
	if err != nil {
		return fmt.Errorf("the log checkpoint of the other party: %w", err)
	}
	ours, err := p.SyncLog(ctx)
	if err != nil {
		return err
	}
	if theirs.Size >= ours.Size {
		// Their view is as new as ours or newer: accept it through the
		// same checks as a checkpoint from the relay.
		_, err := p.acceptLog(ctx, func(uint64) ([]byte, error) { return note, nil })
		return err
	}
	proof, err := p.proveConsistency(ctx, theirs, ours)
	if err != nil {
		return err
	}
	if err := tlog.VerifyConsistency(theirs.Size, ours.Size, theirs.Root, ours.Root, proof); err != nil {
		return &InconsistentLogError{Relay: p.relay.Name, Accepted: ours.Note, Offered: theirs.Note, Err: fmt.Errorf("%w: %v", tlog.ErrInconsistent, err)}
	}
	return nil
}
