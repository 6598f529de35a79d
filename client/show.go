package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"brieftraeger/envelope"
	"brieftraeger/tlog"
)

// Shown is everything this device holds of one letter it sent or opened,
// as brief show prints it. It is assembled from the records and, for a
// sent letter, its sealed copy (OpenSent); nothing in it is stored.
type Shown struct {
	Box        string     `json:"box"` // "sent" or "received"
	ID         string     `json:"id"`
	From       string     `json:"from"` // party/device
	To         string     `json:"to"`
	Office     string     `json:"office,omitempty"`
	Subject    string     `json:"subject"`
	Precedence string     `json:"precedence"`
	Seq        uint64     `json:"seq"`
	Kind       Kind       `json:"kind"`
	Thread     string     `json:"thread"` // the letter that started the thread: its own id if it names none
	ReplyTo    string     `json:"reply_to,omitempty"`
	Created    time.Time  `json:"created"`              // when it was written (sealed, for a sent letter)
	OpenedAt   *time.Time `json:"opened_at,omitempty"`  // a received letter: when this device opened it
	State      string     `json:"state"`                // sent: queued, posted or refused; received: opened
	PostError  string     `json:"post_error,omitempty"` // sent: why the last attempt to post it failed

	// Dir is the folder of the letter's body and attachments (Parts, with
	// paths relative to it); empty if the text is not on this device, and
	// NoText says why.
	Dir    string         `json:"dir,omitempty"`
	Parts  []ReceivedPart `json:"parts,omitempty"`
	NoText string         `json:"no_text,omitempty"`

	Receipts []ShownReceipt `json:"receipts"` // posted, delivered, acknowledged, as recorded
}

// ShownReceipt is one receipt of a shown letter, checked again.
type ShownReceipt struct {
	Kind     string    `json:"kind"`
	Time     time.Time `json:"time"`
	Signer   string    `json:"signer"` // party/device, or relay/relay
	Verified bool      `json:"verified"`
	Error    string    `json:"error,omitempty"` // why it did not verify
}

// Show returns what this device holds of letter id: the received letter
// of that id if there is one, else the sent one. A sent letter's text is
// opened from its sealed copy (OpenSent); if it cannot be, NoText says
// why and the rest is still returned.
func (p *Party) Show(id string) (*Shown, error) {
	rec, s, err := p.findLetter(id)
	if err != nil {
		return nil, err
	}
	if rec != nil {
		return p.showReceived(rec)
	}
	return p.showSent(s)
}

func (p *Party) showReceived(rec *Received) (*Shown, error) {
	opened := rec.OpenedAt
	sh := &Shown{Box: boxReceived, ID: rec.ID, From: rec.From + "/" + rec.Device, To: rec.To, Office: rec.Office,
		Subject: rec.Subject, Precedence: rec.Precedence, Seq: rec.Seq, Kind: p.KindOf(rec), Thread: threadOf(rec.Thread, rec.ID),
		ReplyTo: rec.ReplyTo, Created: rec.Created, OpenedAt: &opened, State: "opened", Dir: p.LetterDir(rec.ID), Parts: rec.Parts}
	eh, err := envelope.Parse(rec.Envelope)
	if err != nil {
		return nil, fmt.Errorf("letter %s: its record's envelope: %w", rec.ID, err)
	}
	sh.Receipts = shownReceipts(rec.Receipts, func(rc *envelope.Receipt) error { return p.verifyOwnReceipt(eh, rc) })
	return sh, nil
}

func (p *Party) showSent(s *SentLetter) (*Shown, error) {
	sh := &Shown{Box: boxSent, ID: s.ID, From: p.keys.Party + "/" + p.keys.Device, To: s.To, Subject: s.Subject,
		Precedence: s.Precedence, Seq: s.Seq, Kind: s.Kind, Thread: threadOf(s.Thread, s.ID), ReplyTo: s.ReplyTo,
		Created: s.SealedAt, State: s.state(), PostError: s.PostError}
	o, err := p.OpenSent(s.ID)
	switch {
	case err == nil:
		sh.Dir, sh.Parts, sh.Office = o.Dir, o.Letter.Parts, o.Letter.Office
	case errors.Is(err, ErrSealedCopyRemoved):
		sh.NoText = ErrSealedCopyRemoved.Error()
	case errors.Is(err, ErrNoSealedCopy):
		sh.NoText = "the text was not kept: the letter was sent before brief kept a sealed copy of each letter it sends"
	default:
		sh.NoText = err.Error()
	}
	sh.Receipts = shownReceipts(s.Receipts, func(rc *envelope.Receipt) error { return p.VerifyReceipt(s, rc) })
	return sh, nil
}

// shownReceipts parses and verifies each receipt, in the order posted,
// delivered, acknowledged.
func shownReceipts(raw [][]byte, verify func(*envelope.Receipt) error) []ShownReceipt {
	out := []ShownReceipt{}
	for _, b := range raw {
		rc, err := envelope.ParseReceipt(b)
		if err != nil {
			out = append(out, ShownReceipt{Kind: "unreadable", Error: err.Error()})
			continue
		}
		r := ShownReceipt{Kind: rc.Kind.String(), Time: rc.Time, Signer: rc.Party + "/" + rc.Signer, Verified: true}
		if err := verify(rc); err != nil {
			r.Verified, r.Error = false, err.Error()
		}
		out = append(out, r)
	}
	order := map[string]int{"posted": 0, "delivered": 1, "acknowledged": 2}
	slices.SortStableFunc(out, func(a, b ShownReceipt) int { return order[a.Kind] - order[b.Kind] })
	return out
}

// verifyOwnReceipt checks a receipt this party signed for a letter it
// received: for that envelope, by a device on this party's roster.
func (p *Party) verifyOwnReceipt(eh *envelope.Header, rc *envelope.Receipt) error {
	if rc.ID != eh.ID || rc.Envelope != eh.Hash() {
		return fmt.Errorf("%s receipt does not match letter %s", rc.Kind, eh.ID)
	}
	if rc.Party != p.keys.Party {
		return fmt.Errorf("%s receipt is signed by %q, not this party", rc.Kind, rc.Party)
	}
	dev := p.Roster().Device(rc.Signer)
	if dev == nil {
		return fmt.Errorf("%s receipt is signed by %s/%s, which is not on this party's roster", rc.Kind, rc.Party, rc.Signer)
	}
	return rc.Verify(dev.Key)
}

// LogRecord says whether one record of a letter is in the relay's log.
type LogRecord struct {
	Record string `json:"record"` // envelope, posted, delivered or acknowledged
	Logged bool   `json:"logged"` // its inclusion proof verified
	Index  uint64 `json:"index,omitempty"`
}

// LogRecords asks the relay whether each record of letter id (its
// envelope and each receipt) is in its log, and verifies each inclusion
// proof (VerifyLogged). If the relay cannot be asked, it returns the
// records checked so far and the error.
func (p *Party) LogRecords(ctx context.Context, id string) ([]LogRecord, error) {
	src, err := p.exportSource(id)
	if err != nil {
		return nil, err
	}
	leaves := []struct {
		name string
		leaf []byte
	}{{"envelope", tlog.LeafData(tlog.KindEnvelope, src.eh.Raw)}}
	for _, raw := range src.receipts {
		if rc, err := envelope.ParseReceipt(raw); err == nil {
			leaves = append(leaves, struct {
				name string
				leaf []byte
			}{rc.Kind.String(), tlog.LeafData(tlog.KindReceipt, raw)})
		}
	}
	out := []LogRecord{}
	for _, l := range leaves {
		idx, err := p.VerifyLogged(ctx, l.leaf)
		switch {
		case errors.Is(err, ErrNotLogged):
			out = append(out, LogRecord{Record: l.name})
		case err != nil:
			return out, fmt.Errorf("%s: %w", l.name, err)
		default:
			out = append(out, LogRecord{Record: l.name, Logged: true, Index: idx})
		}
	}
	return out, nil
}

// findLetter returns the record of letter id: received, if this device
// opened it, else sent from this device; the other is nil.
func (p *Party) findLetter(id string) (*Received, *SentLetter, error) {
	rec, err := p.Letter(id)
	if err == nil {
		return rec, nil, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	s, err := p.Sent(id)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("letter %s is neither in the archive nor among the letters sent from this device", id)
	} else if err != nil {
		return nil, nil, err
	}
	return nil, s, nil
}
