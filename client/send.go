package client

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"brieftraeger/envelope"
	"brieftraeger/internal/api"
	"brieftraeger/letter"
)

// Outgoing is a letter to send.
type Outgoing struct {
	To          string
	Office      string
	Subject     string
	Precedence  envelope.Precedence
	Body        []byte
	Attachments []letter.Attachment
	ReplyTo     []byte // the id of the letter this one answers, 16 bytes, or nil
	Thread      []byte // the id of the letter that started the thread, 16 bytes, or nil

	// Progress, if not nil, is called as the letter is sealed (stage
	// "sealing", counting attachment bytes read) and posted (stage
	// "posting", counting bytes sent), at most once per 1 MiB.
	Progress func(stage string, done, total int64)

	kind      Kind   // set by sendJSONPart only; a person's letter is KindLetter
	noticeFor string // set by refuseQueued only: the letter whose number a notice takes
}

// SentLetter is the sender's record of a letter, in records.db, with every
// receipt collected for it so far (each verified before it was recorded).
// The record is written, with the letter's sealed copy (sent/ID.age),
// before the letter is posted (outbox.go). Until the relay's posted
// receipt arrives it has no receipts; PostError says why the last attempt
// to post it failed (the relay may still hold the letter, if the failure
// came after it committed; a later receipt shows that).
type SentLetter struct {
	ID         string    `json:"id"`
	To         string    `json:"to"`
	Subject    string    `json:"subject"`
	Kind       Kind      `json:"kind,omitempty"` // see sentKind for records without it
	Precedence string    `json:"precedence"`
	Seq        uint64    `json:"seq"`
	Size       uint64    `json:"size"`
	SealedAt   time.Time `json:"sealed_at"`
	Envelope   []byte    `json:"envelope"` // signed envelope header
	Receipts   [][]byte  `json:"receipts"` // signed receipts, posted first
	PostError  string    `json:"post_error,omitempty"`
	// State is StateQueued, StatePosted or StateRefused; empty in records
	// from before the outbox (State reads it).
	State       string     `json:"state,omitempty"`
	Attempts    int        `json:"attempts,omitempty"`     // failed attempts to post it
	LastAttempt *time.Time `json:"last_attempt,omitempty"` // the last failed attempt
	Refused     string     `json:"refused,omitempty"`      // the relay's code, if it refused the letter for good
	Thread      string     `json:"thread,omitempty"`       // hex: the letter that started the thread, if it names one
	ReplyTo     string     `json:"reply_to,omitempty"`     // hex: the letter it answers, if any
	NoticeFor   string     `json:"notice_for,omitempty"`   // for a notice: the refused letter whose number it took, or "-" for one never finished
	NoticeDue   bool       `json:"notice_due,omitempty"`   // refused, and its number goes to a notice (outbox.go)
}

// Send seals a letter to the recipient's and this party's current epoch
// keys, keeps its sealed copy and records it (queued, in the outbox), then
// posts the letters queued on its channel in sequence order, this one
// among them, verifying each posted receipt. If this letter could not be
// posted now, it stays in the outbox and the error is a *QueuedError; if
// the relay refused it for good, a *RefusedError. A letter of more than
// inlineSealed bytes is sealed to a spool file, never held in memory.
func (p *Party) Send(ctx context.Context, o Outgoing) (*SentLetter, *envelope.Receipt, error) {
	sent, err := p.seal(o, 0)
	if err != nil {
		return nil, nil, err
	}
	_, _, derr := p.drain(ctx, sent.To, sent.ID, o.Progress)
	if s, err := p.Sent(sent.ID); err == nil {
		sent = s
	} else {
		return sent, nil, errors.Join(derr, err)
	}
	switch sent.state() {
	case StatePosted:
		return sent, sent.postedReceipt(), nil
	case StateRefused:
		var re *RelayError
		if !errors.As(derr, &re) {
			re = &RelayError{Code: sent.Refused, Message: sent.PostError}
		}
		if re.Code == api.CodeEpoch {
			// Sealed to an epoch key the recipient no longer has: this
			// device's copy of its roster is old. Follow it now, so that
			// the letter sent again is sealed to a key it holds.
			if _, err := p.RefreshContact(ctx, sent.To); err != nil {
				p.log.Warn("failed to follow the roster of a party that refused an epoch key", "party", sent.To, "err", err)
			}
		}
		return sent, nil, &RefusedError{ID: sent.ID, Err: re}
	}
	var qe *QueuedError
	switch {
	case errors.As(derr, &qe) && qe.ID == sent.ID:
	case qe != nil:
		derr = &QueuedError{ID: sent.ID, Seq: sent.Seq, Behind: qe.ID, Err: qe.Err}
	default:
		derr = &QueuedError{ID: sent.ID, Seq: sent.Seq, Err: errOr(derr, sent.PostError)}
	}
	return sent, nil, derr
}

// errOr returns err, or if it is nil an error of msg (or "not posted yet").
func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	if msg == "" {
		msg = "not posted yet"
	}
	return errors.New(msg)
}

// seal seals a letter with sequence number seq (0: the next one), keeps
// the sealed copy as sent/ID.age and records the letter, queued. If
// sealing or recording fails before a record can exist, a number it took
// is given back.
func (p *Party) seal(o Outgoing, seq uint64) (*SentLetter, error) {
	to, err := p.Contact(o.To)
	if err != nil {
		return nil, err
	}
	// The letter carries this device's view of the relay's log, after the
	// person's attachments (and outside their progress).
	atts := withProgress(o.Attachments, o.Progress)
	gossip, err := p.gossipAttachment()
	if err != nil {
		return nil, err
	}
	if gossip != nil {
		if slices.ContainsFunc(atts, func(a letter.Attachment) bool { return a.Name == gossip.Name }) {
			return nil, fmt.Errorf("the attachment name %q is taken by the log checkpoint that every letter carries; rename the file", gossip.Name)
		}
		atts = append(slices.Clip(atts), *gossip)
	}
	now := p.now()
	toEpoch, err := to.CurrentEpoch(now)
	if err != nil {
		return nil, err
	}
	selfEpoch, err := p.Roster().CurrentEpoch(now)
	if err != nil {
		return nil, err
	}
	release := func(err error) error { return err }
	if seq == 0 {
		if seq, err = p.takeSeq(o.To); err != nil {
			return nil, fmt.Errorf("failed to take a sequence number: %w", err)
		}
		taken := seq
		release = func(err error) error { return errors.Join(err, p.releaseSeq(o.To, taken)) }
		defer func() {
			p.sealing.Delete(sealingKey{o.To, seq})
			p.sealedHere.broadcast()
		}()
	}
	// A small letter is sealed in memory and its sealed copy kept in
	// records.db with its record; a larger one is spooled to a file.
	var inline *bytes.Buffer
	var spool *os.File
	var dst io.Writer
	if plainSize(o, atts) <= inlineSealed {
		inline = new(bytes.Buffer)
		dst = inline
	} else {
		if spool, err = p.createTemp("sealed-*", false); err != nil {
			return nil, release(fmt.Errorf("failed to create spool file: %w", err))
		}
		defer os.Remove(spool.Name())
		defer spool.Close()
		dst = spool
	}
	digest := envelope.NewDigest()
	d := &letter.Draft{From: p.keys.Party, Device: p.keys.Device, To: o.To, Office: o.Office, Seq: seq, SenderRoster: p.Roster().Serial,
		Precedence: o.Precedence, Subject: o.Subject, ReplyTo: o.ReplyTo, Thread: o.Thread, Created: now, Body: o.Body,
		Attachments: atts}
	cw := &countWriter{w: io.MultiWriter(dst, digest)}
	lh, err := letter.Seal(cw, d, p.keys.Sign, *toEpoch, *selfEpoch)
	if err != nil {
		// Nothing sealed is kept: the number is free again.
		return nil, release(err)
	}
	eh := &envelope.Header{ID: lh.ID, From: lh.From, Device: lh.Device, To: lh.To, Epoch: lh.Epoch,
		Precedence: lh.Precedence, Size: uint64(cw.n), Digest: [32]byte(digest.Sum(nil))}
	if err := eh.Sign(p.keys.Sign); err != nil {
		return nil, release(err)
	}
	var inlined []byte
	if spool != nil {
		if err := p.keepSealed(spool, lh.ID.String()); err != nil {
			return nil, release(fmt.Errorf("failed to keep the sealed letter: %w", err))
		}
	} else {
		inlined = inline.Bytes()
	}
	sent := &SentLetter{ID: lh.ID.String(), To: o.To, Subject: o.Subject, Kind: cmp.Or(o.kind, KindLetter), Precedence: o.Precedence.String(),
		Seq: seq, Size: eh.Size, SealedAt: now, Envelope: eh.Raw, State: StateQueued,
		Thread: hex.EncodeToString(o.Thread), ReplyTo: hex.EncodeToString(o.ReplyTo), NoticeFor: o.noticeFor}
	if tried, err := p.recordSent(sent, o.Body, inlined); err != nil {
		err = fmt.Errorf("failed to record letter before posting: %w", err)
		if !tried {
			// No record exists: the number is free again. Once the
			// record's write has begun it may exist, and is kept.
			os.Remove(p.sealedPath(sent.ID))
			err = release(err)
		}
		return nil, err
	}
	return sent, nil
}

// inlineSealed is the largest letter (body and attachments) that is
// sealed in memory and whose sealed copy is kept in records.db.
const inlineSealed = 256 << 10

// plainSize is what the body and attachments of a letter add up to.
func plainSize(o Outgoing, atts []letter.Attachment) int64 {
	n := int64(len(o.Body))
	for _, a := range atts {
		n += a.Size
	}
	return n
}

// keepSealed makes the spooled ciphertext the letter's sealed copy,
// sent/ID.age: synced, renamed, and the folder synced.
func (p *Party) keepSealed(spool *os.File, id string) error {
	if err := spool.Sync(); err != nil {
		return err
	}
	dir := filepath.Join(p.dir, "sent")
	if err := os.Rename(spool.Name(), p.sealedPath(id)); err != nil {
		return err
	}
	return syncDir(dir)
}

// post sends the envelope and its ciphertext, read from sealed, and
// verifies the posted receipt.
func (p *Party) post(ctx context.Context, eh *envelope.Header, sealed io.ReadSeeker, progress func(string, int64, int64)) (*envelope.Receipt, error) {
	var frame bytes.Buffer
	envelope.WriteHeader(&frame, eh)
	size := int64(frame.Len()) + int64(eh.Size)
	body := func() (io.Reader, error) {
		if _, err := sealed.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		var r io.Reader = io.MultiReader(bytes.NewReader(frame.Bytes()), io.LimitReader(sealed, int64(eh.Size)))
		if progress != nil {
			r = &progressReader{r: r, stage: "posting", total: size, report: progress}
		}
		return r, nil
	}
	resp, err := p.do(ctx, http.MethodPost, api.PathEnvelopes, body, size)
	if err != nil {
		return nil, fmt.Errorf("failed to post letter: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, envelope.MaxReceiptLen+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read posted receipt: %w", err)
	}
	rc, err := p.checkPosted(raw, eh)
	if err != nil {
		return nil, fmt.Errorf("relay answered with a bad posted receipt: %w", err)
	}
	return rc, nil
}

func (p *Party) checkPosted(raw []byte, eh *envelope.Header) (*envelope.Receipt, error) {
	rc, err := envelope.ParseReceipt(raw)
	if err != nil {
		return nil, err
	}
	if err := rc.Verify(p.relayKey); err != nil {
		return nil, err
	}
	if rc.Kind != envelope.Posted || rc.ID != eh.ID || rc.Envelope != eh.Hash() || rc.Party != p.relay.Name || rc.Signer != envelope.RelaySigner {
		return nil, fmt.Errorf("receipt does not match letter %s", eh.ID)
	}
	return rc, nil
}

// updateSent changes the record of a sent letter in one transaction: it
// reads the record, applies fn and records the result.
func (p *Party) updateSent(id string, fn func(*SentLetter) error) error {
	return p.inTx(func(tx *sql.Tx) error {
		var s SentLetter
		if err := getLetter(tx, boxSent, id, &s); err != nil {
			return err
		}
		if err := fn(&s); err != nil {
			return err
		}
		return putSentRecord(tx, &s, "")
	})
}

// addReceipt adds a verified receipt to the record unless it holds one of
// the same kind; a posted receipt goes first.
func (s *SentLetter) addReceipt(rc *envelope.Receipt) bool {
	for _, have := range s.Receipts {
		if r, err := envelope.ParseReceipt(have); err == nil && r.Kind == rc.Kind {
			return false
		}
	}
	if rc.Kind == envelope.Posted {
		s.Receipts = append([][]byte{rc.Raw}, s.Receipts...)
		return true
	}
	s.Receipts = append(s.Receipts, rc.Raw)
	return true
}

// Sent returns the record of a letter this party sent; the error wraps
// os.ErrNotExist if there is none.
func (p *Party) Sent(id string) (*SentLetter, error) {
	if _, err := envelope.ParseID(id); err != nil {
		return nil, err
	}
	var s SentLetter
	if err := getLetter(p.db, boxSent, id, &s); err != nil {
		return nil, err
	}
	s.Kind = sentKind(&s)
	return &s, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// SentIDs lists the ids of the letters this party sent, oldest first.
func (p *Party) SentIDs() ([]string, error) {
	sent, err := sentWhere(p.db, `1`, `at, n`)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(sent))
	for i, s := range sent {
		ids[i] = s.ID
	}
	return ids, nil
}
