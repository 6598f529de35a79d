package client

import (
	"context"
	"fmt"
	"strconv"

	"brieftraeger/envelope"
	"brieftraeger/identity"
	"brieftraeger/internal/api"
)

// CollectReceipts fetches the receipts filed for this party's letters since
// the last call, verifies each against the recipient's roster and the
// letter's envelope, and records it with the sent letter. It returns the
// new, verified receipts. A receipt that fails verification is reported as
// an error and not recorded.
func (p *Party) CollectReceipts(ctx context.Context) ([]*envelope.Receipt, error) {
	st, err := p.loadState()
	if err != nil {
		return nil, err
	}
	var list []api.ReceiptEntry
	if err := p.getJSON(ctx, api.PathReceipts+"?after="+strconv.FormatUint(st.ReceiptsAfter, 10), &list); err != nil {
		return nil, fmt.Errorf("failed to fetch receipts: %w", err)
	}
	var out []*envelope.Receipt
	for _, e := range list {
		rc, err := p.recordReceipt(e.Receipt)
		if err != nil {
			return out, fmt.Errorf("receipt %d: %w", e.Seq, err)
		}
		out = append(out, rc)
		st.ReceiptsAfter = e.Seq
		if err := p.saveState(st); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (p *Party) recordReceipt(raw []byte) (*envelope.Receipt, error) {
	rc, err := envelope.ParseReceipt(raw)
	if err != nil {
		return nil, err
	}
	sent, err := p.Sent(rc.ID.String())
	if err != nil {
		return nil, err
	}
	if err := p.VerifyReceipt(sent, rc); err != nil {
		return nil, err
	}
	for _, have := range sent.Receipts {
		if r, err := envelope.ParseReceipt(have); err == nil && r.Kind == rc.Kind {
			return rc, nil
		}
	}
	sent.Receipts = append(sent.Receipts, rc.Raw)
	return rc, p.saveSent(sent)
}

// VerifyReceipt checks a receipt for a sent letter: posted receipts
// against the relay's key, delivered and acknowledged receipts against the
// recipient party's roster, and every receipt against the letter's
// envelope hash.
func (p *Party) VerifyReceipt(sent *SentLetter, rc *envelope.Receipt) error {
	want := identity.Hash(envelope.ContextEnvelopeHash, sent.Envelope)
	if rc.ID.String() != sent.ID || rc.Envelope != want {
		return fmt.Errorf("%s receipt does not match letter %s", rc.Kind, sent.ID)
	}
	if rc.Kind == envelope.Posted {
		if rc.Party != p.relay.Name || rc.Signer != envelope.RelaySigner {
			return fmt.Errorf("posted receipt is not from relay %q", p.relay.Name)
		}
		return rc.Verify(p.relayKey)
	}
	if rc.Party != sent.To {
		return fmt.Errorf("%s receipt for letter %s is signed by %q, not the recipient %q", rc.Kind, sent.ID, rc.Party, sent.To)
	}
	ros, err := p.Contact(sent.To)
	if err != nil {
		return err
	}
	dev := ros.Device(rc.Signer)
	if dev == nil {
		return fmt.Errorf("%s receipt is signed by %s/%s, which is not on the roster", rc.Kind, rc.Party, rc.Signer)
	}
	return rc.Verify(dev.Key)
}
