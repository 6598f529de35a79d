package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"

	"brieftraeger/envelope"
	"brieftraeger/identity"
	"brieftraeger/internal/api"
)

// Refused is a receipt the relay filed for this party that was not
// recorded with a sent letter: its letter has no record on this device
// (it was sent by another device of the party), or it failed verification.
// Refused receipts are kept in records.db.
type Refused struct {
	Seq     uint64 `json:"seq"`            // the relay's receipt sequence number
	ID      string `json:"id,omitempty"`   // the letter, if the receipt parsed
	Kind    string `json:"kind,omitempty"` // posted, delivered or acknowledged, if it parsed
	Reason  string `json:"reason"`
	Receipt []byte `json:"receipt"` // as the relay returned it
}

// CollectReceipts is CollectReceiptsAndRefusals for a caller that does not
// report refusals; they are kept all the same (RefusedReceipts).
func (p *Party) CollectReceipts(ctx context.Context) ([]*envelope.Receipt, error) {
	rcs, _, err := p.CollectReceiptsAndRefusals(ctx)
	return rcs, err
}

// CollectReceiptsAndRefusals fetches the receipts filed for this party's
// letters since the last call, verifies each against the recipient's
// roster and the letter's envelope, and records it with the sent letter.
// It returns the new, verified receipts and the refused ones: a receipt
// that does not verify, or is for a letter this device has no record of,
// is set aside (RefusedReceipts) and does not stop the collection.
// An error means the relay could not be asked or a local record not
// written; the receipts not handled are fetched again by the next call.
func (p *Party) CollectReceiptsAndRefusals(ctx context.Context) ([]*envelope.Receipt, []Refused, error) {
	after, err := receiptsAfter(p.db)
	if err != nil {
		return nil, nil, err
	}
	var list []api.ReceiptEntry
	if err := p.getJSON(ctx, api.PathReceipts+"?after="+strconv.FormatUint(after, 10), &list); err != nil {
		return nil, nil, fmt.Errorf("failed to fetch receipts: %w", err)
	}
	var out []*envelope.Receipt
	var refused []Refused
	var handled, undecided uint64 // undecided: the first receipt that could not be checked now
	var recordErr error
	for _, e := range list {
		if undecided == 0 {
			handled = e.Seq - 1
		}
		rc, err := p.checkReceipt(ctx, e.Receipt)
		if errors.Is(err, errNoRecord) {
			other, oerr := p.sentByOtherDevice(ctx, rc.ID.String())
			if oerr != nil {
				err = &undecidedError{oerr}
			} else if other {
				continue // that device records it
			}
		}
		if errors.As(err, new(*undecidedError)) {
			// Checked again at the next collection, with those after
			// it: the ones after it are handled now all the same, and
			// handling them again then changes nothing.
			if undecided == 0 {
				undecided, recordErr = e.Seq, fmt.Errorf("failed to check receipt %d: %w", e.Seq, err)
			}
			continue
		}
		if err != nil {
			r := Refused{Seq: e.Seq, Reason: err.Error(), Receipt: e.Receipt}
			if rc != nil {
				r.ID, r.Kind = rc.ID.String(), rc.Kind.String()
			}
			refused = append(refused, r)
			continue
		}
		added := false
		if err := p.updateSent(rc.ID.String(), func(s *SentLetter) error { added = s.addReceipt(rc); return nil }); err != nil {
			recordErr = fmt.Errorf("failed to record receipt %d: %w", e.Seq, err)
			break
		}
		if added {
			out = append(out, rc)
		}
	}
	if undecided == 0 && recordErr == nil && len(list) > 0 {
		handled = list[len(list)-1].Seq
	}
	refused, err = p.refuse(refused)
	if err != nil {
		return out, refused, err
	}
	if handled > after {
		if err := p.advanceReceipts(handled); err != nil {
			return out, refused, err
		}
	}
	return out, refused, recordErr
}

// checkReceipt parses a receipt and verifies it against the record of its
// letter. It returns the receipt, if it parsed, with any error.
func (p *Party) checkReceipt(ctx context.Context, raw []byte) (*envelope.Receipt, error) {
	rc, err := envelope.ParseReceipt(raw)
	if err != nil {
		return nil, err
	}
	sent, err := p.Sent(rc.ID.String())
	if errors.Is(err, os.ErrNotExist) {
		return rc, fmt.Errorf("%w %s on this device", errNoRecord, rc.ID)
	} else if err != nil {
		return rc, err
	}
	err = p.VerifyReceipt(sent, rc)
	if errors.Is(err, errNotOnRoster) && rc.Party == sent.To {
		// The recipient may have added the device since this device
		// followed its roster: follow it once.
		if _, rerr := p.RefreshContact(ctx, sent.To); rerr != nil {
			return rc, &undecidedError{rerr}
		}
		if err = p.VerifyReceipt(sent, rc); errors.Is(err, errNotOnRoster) {
			err = p.receiptBeforeRemoval(ctx, sent, rc)
		}
	}
	return rc, err
}

// errNoRecord is checkReceipt's error for a receipt of a letter this
// device has no record of.
var errNoRecord = errors.New("no record of letter")

// sentByOtherDevice reports whether letter id was sent by another device
// of this party, as the relay's copy of its envelope header shows, signed
// by a device that a version of the party's roster names. The relay lists
// every receipt of the party's letters to each of its devices; a receipt
// of another device's letter is that device's to record. A relay that
// claims so falsely gains nothing: the header must carry that device's
// signature.
func (p *Party) sentByOtherDevice(ctx context.Context, id string) (bool, error) {
	resp, err := p.do(ctx, http.MethodGet, api.PathEnvelopes+"/"+id, nil, 0)
	var re *RelayError
	if errors.As(err, &re) && re.Status/100 == 4 {
		return false, nil // not a letter of this party that the relay holds
	} else if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	eh, err := envelope.ReadHeader(resp.Body)
	if err != nil || eh.ID.String() != id || eh.From != p.Name() || eh.Device == p.Device() {
		return false, nil
	}
	chain, err := readOwnChain(p.dir)
	if err != nil {
		return false, err
	}
	for _, raw := range chain {
		if r, err := identity.DecodeRoster(raw); err == nil {
			if d := r.Device(eh.Device); d != nil && eh.Verify(d.Key) == nil {
				return true, nil
			}
		}
	}
	return false, nil
}

// refuse records receipts set aside, each once, and returns those set
// aside now for the first time: a receipt handled again after one that was
// undecided is not reported twice.
func (p *Party) refuse(list []Refused) ([]Refused, error) {
	if len(list) == 0 {
		return nil, nil
	}
	var fresh []Refused
	err := p.inTx(func(tx *sql.Tx) error {
		fresh = fresh[:0]
		for _, r := range list {
			added, err := putRefused(tx, r)
			if err != nil {
				return fmt.Errorf("failed to save refused receipts: %w", err)
			}
			if added {
				fresh = append(fresh, r)
			}
		}
		return nil
	})
	return fresh, err
}

// RefusedReceipts returns every receipt CollectReceipts has set aside, in
// the relay's order.
func (p *Party) RefusedReceipts() ([]Refused, error) {
	rows, err := p.db.Query(`SELECT record FROM refused_receipts ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var all []Refused
	for rows.Next() {
		var raw []byte
		var r Refused
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, err
		}
		all = append(all, r)
	}
	return all, rows.Err()
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
		return fmt.Errorf("%s receipt is signed by %s/%s, which is %w", rc.Kind, rc.Party, rc.Signer, errNotOnRoster)
	}
	return rc.Verify(dev.Key)
}
