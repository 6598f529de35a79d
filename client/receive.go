package client

import (
	"bytes"
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

	"filippo.io/age"

	"brieftraeger/envelope"
	"brieftraeger/internal/api"
	"brieftraeger/letter"
)

// Received is the record of an opened letter, in records.db; its files
// are in archive/ID/.
type Received struct {
	ID         string         `json:"id"`
	From       string         `json:"from"`
	Device     string         `json:"device"`
	To         string         `json:"to"`
	Office     string         `json:"office,omitempty"`
	Subject    string         `json:"subject"`
	Kind       Kind           `json:"kind,omitempty"` // as opened (classify); KindOf for records without it
	Precedence string         `json:"precedence"`
	Seq        uint64         `json:"seq"`
	Created    time.Time      `json:"created"`
	OpenedAt   time.Time      `json:"opened_at"`
	Parts      []ReceivedPart `json:"parts"`
	Envelope   []byte         `json:"envelope"`           // signed envelope header
	Header     []byte         `json:"letter_header"`      // letter header, as signed
	Trailer    []byte         `json:"letter_trailer"`     // part digests and the sender's signature
	Receipts   [][]byte       `json:"receipts"`           // delivered, then acknowledged, as sent
	Thread     string         `json:"thread,omitempty"`   // hex: the letter that started the thread, if it names one
	ReplyTo    string         `json:"reply_to,omitempty"` // hex: the letter it answers, if any
	// Unsent lists the kinds of the receipts recorded here that have not
	// reached the relay yet (unsent.go).
	Unsent []envelope.Kind `json:"unsent,omitempty"`

	// senderRoster is the sender's roster version the letter names; set
	// when it is opened, not stored.
	senderRoster uint64

	// New is set by Receive if this call opened the letter, and false if
	// it was in the archive already: read again, or announced again by
	// the relay. It is not stored.
	New bool `json:"-"`
}

// ReceivedPart is one part of an opened letter, stored at Path (relative
// to the letter's archive folder).
type ReceivedPart struct {
	Name      string `json:"name,omitempty"`
	MediaType string `json:"media_type"`
	Size      uint64 `json:"size"`
	Path      string `json:"path"`
}

// Mailbox lists the envelopes waiting at the relay for this party, most
// urgent first.
func (p *Party) Mailbox(ctx context.Context) ([]api.MailboxEntry, error) {
	var list []api.MailboxEntry
	if err := p.getJSON(ctx, api.PathMailbox, &list); err != nil {
		return nil, fmt.Errorf("failed to list mailbox: %w", err)
	}
	return list, nil
}

// Receive fetches one envelope, opens and verifies the letter, stores it
// in the archive, and only then sends the signed delivered receipt. A
// letter that fails any check is refused: nothing is archived and no
// receipt is sent. Receiving a letter already archived sends its delivered
// receipt again (the relay keeps the first). A letter whose sequence
// number was already received from the same device with another letter
// is refused with a *ReplayError; a letter that skips numbers of its
// device is received, and the numbers skipped are reported by GapReport
// until they arrive. A letter for a person
// is pending (PendingLetters) from when it is recorded until a person
// acknowledges it. The letter's kind is judged once, when it is opened (KindOf): a
// heartbeat is recorded (NoteHeartbeat); a test letter is recorded and
// acknowledged at once (NoteTestLetter). The record's New says whether this call opened the
// letter: of two processes receiving one letter at once, one does.
func (p *Party) Receive(ctx context.Context, id string) (*Received, error) {
	return p.receive(ctx, id, nil)
}

// ReceiveEvent receives the envelope an event announced, as Receive does.
// If the event carries the envelope (e.Envelope), the letter is opened
// from there, with every check a fetched one gets, and not fetched.
func (p *Party) ReceiveEvent(ctx context.Context, e api.MailboxEntry) (*Received, error) {
	inline := e.Envelope
	if len(inline) == 0 {
		inline = nil // "envelope": "" carries nothing to open
	}
	return p.receive(ctx, e.ID, inline)
}

// receive is Receive, with the envelope stream at hand (inline) or, if
// inline is nil, fetched.
func (p *Party) receive(ctx context.Context, id string, inline []byte) (*Received, error) {
	if _, err := envelope.ParseID(id); err != nil {
		return nil, err
	}
	rec, err := p.Letter(id)
	if errors.Is(err, os.ErrNotExist) {
		rec, err = p.fetchAndOpen(ctx, id, inline)
	}
	if err != nil {
		return nil, err
	}
	if err := p.fileReceipt(ctx, rec, envelope.Delivered); err != nil {
		return rec, err
	}
	switch p.KindOf(rec) {
	case KindHeartbeat:
		if _, err := p.NoteHeartbeat(rec); err != nil {
			// The letter is received; only the light's record of it failed.
			p.log.Warn("failed to record heartbeat", "letter", rec.ID, "err", err)
		}
	case KindTestLetter:
		if _, err := p.NoteTestLetter(ctx, rec); err != nil {
			// The letter is received; AckTestLetters tries the
			// acknowledgement again.
			p.log.Warn("failed to acknowledge test letter", "letter", rec.ID, "err", err)
		}
	}
	return rec, nil
}

// LetterRefusedError says that a letter the relay delivered was refused
// by this device: it does not verify, is not addressed or sealed to it,
// or replays a number already received. Nothing of it was kept, and no
// receipt sent. Unlike a failure to reach the relay or to write a file,
// it is evidence about what the relay or the sender sent.
type LetterRefusedError struct {
	ID  string
	Err error
}

func (e *LetterRefusedError) Error() string { return e.Err.Error() }

func (e *LetterRefusedError) Unwrap() error { return e.Err }

func refusedLetter(id string, err error) error { return &LetterRefusedError{ID: id, Err: err} }

// fetchAndOpen opens letter id from its envelope stream: inline, or if
// that is nil, fetched from the relay.
func (p *Party) fetchAndOpen(ctx context.Context, id string, inline []byte) (*Received, error) {
	in := bytes.NewReader(inline)
	var stream io.Reader = in
	if inline == nil {
		resp, err := p.do(ctx, http.MethodGet, api.PathEnvelopes+"/"+id, nil, 0)
		if err != nil {
			return nil, fmt.Errorf("failed to fetch letter %s: %w", id, err)
		}
		defer resp.Body.Close()
		stream = resp.Body
	}
	eh, err := envelope.ReadHeader(stream)
	if err != nil {
		return nil, fmt.Errorf("letter %s: %w", id, err)
	}
	if eh.ID.String() != id || eh.To != p.keys.Party {
		return nil, refusedLetter(id, fmt.Errorf("relay answered with envelope %s to %q for letter %s", eh.ID, eh.To, id))
	}
	if inline != nil && uint64(in.Len()) != eh.Size {
		return nil, refusedLetter(id, fmt.Errorf("letter %s: the event's envelope has %d bytes of ciphertext, not the %d its header declares", id, in.Len(), eh.Size))
	}
	sender, err := p.Contact(eh.From)
	if err != nil {
		return nil, fmt.Errorf("letter %s: %w", id, err)
	}
	dev := sender.Device(eh.Device)
	if dev == nil {
		// The sender may have added the device since: follow its roster
		// chain once, which also refuses a chain that forks.
		if sender, err = p.RefreshContact(ctx, eh.From); err != nil {
			return nil, fmt.Errorf("letter %s: device %q is not on the stored roster of %q, and refreshing it failed: %w", id, eh.Device, eh.From, err)
		}
		dev = sender.Device(eh.Device)
	}
	if dev == nil {
		if dev, err = p.letterBeforeRemoval(ctx, eh); err != nil {
			return nil, err
		}
	}
	if err := eh.Verify(dev.Key); err != nil {
		return nil, refusedLetter(id, fmt.Errorf("letter %s: %w", id, err))
	}
	epoch := p.epochKeys()[eh.Epoch]
	if epoch == nil {
		if derr := p.destroyedEpoch(eh.Epoch); derr != nil {
			return nil, refusedLetter(id, fmt.Errorf("letter %s is %w", id, derr))
		}
		return nil, refusedLetter(id, fmt.Errorf("letter %s is sealed to epoch key %d, which this device does not hold", id, eh.Epoch))
	}
	lk, err := p.createTemp("open-*", true)
	if err != nil {
		return nil, fmt.Errorf("failed to create staging folder: %w", err)
	}
	stage := lk.Name()
	defer os.RemoveAll(stage)
	defer lk.Close()
	rec, err := openInto(stage, io.LimitReader(stream, int64(eh.Size)), eh, dev.Key, []age.Identity{epoch}, true)
	if err != nil {
		return nil, refusedLetter(id, fmt.Errorf("letter %s refused: %w", id, err))
	}
	rec.OpenedAt = p.now()
	if rec.Kind, err = classify(stage, rec); err != nil {
		// Perhaps made to be taken for one, hiding its content.
		p.log.Warn("not exactly a heartbeat or test letter: handled as an ordinary letter", "err", err)
	}
	senderRoster := rec.senderRoster
	if rec, err = p.fileLetter(stage, rec); err != nil {
		var re *ReplayError
		if errors.As(err, &re) {
			return nil, refusedLetter(id, fmt.Errorf("letter %s refused: %w", id, err))
		}
		return nil, err
	}
	if senderRoster > sender.Serial {
		// The sender names a roster version this device has not seen:
		// follow its chain now rather than at the next scheduled time.
		if _, err := p.RefreshContact(ctx, eh.From); err != nil {
			p.log.Warn("failed to follow a newer roster named by a letter", "party", eh.From, "serial", senderRoster, "err", err)
		}
	}
	return rec, nil
}

// archive moves an opened letter from its staging folder into the
// archive; fileLetter calls it inside the transaction that records the
// letter, which commits only after the move. The parts are synced already
// (openInto); their folder entries are made durable before the move, and
// the move before the delivered receipt can go out.
func (p *Party) archive(stage string, rec *Received) error {
	if len(rec.Parts) > 1 {
		if err := syncDir(filepath.Join(stage, "files")); err != nil {
			return err
		}
	}
	if err := syncDir(stage); err != nil {
		return err
	}
	final := p.archivePath(rec.ID)
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return err
	}
	// A folder there without a record is what a crash between this move
	// and the record's commit leaves: the letter is opened again.
	if err := os.RemoveAll(final); err != nil {
		return err
	}
	if err := os.Rename(stage, final); err != nil {
		return err
	}
	return syncDir(filepath.Dir(final))
}

// openInto opens the ciphertext in r with one of the epoch identities ids
// into the folder stage, checking the letter header against the envelope
// and the ciphertext against the envelope's signed size and digest. With
// keepSealed, the ciphertext itself goes to stage/letter.age.
func openInto(stage string, r io.Reader, eh *envelope.Header, senderKey []byte, ids []age.Identity, keepSealed bool) (*Received, error) {
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	digest := envelope.NewDigest()
	var tee io.Writer = digest
	if keepSealed {
		// The ciphertext is kept as it came (SealedName), for the record
		// and for the stock age tool.
		sealed, err := os.OpenFile(filepath.Join(stage, SealedName), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		files = append(files, sealed)
		tee = io.MultiWriter(digest, sealed)
	}
	cr := &countReader{r: io.TeeReader(r, tee)}
	rec := &Received{Envelope: eh.Raw}
	sink := func(i int, pi letter.PartInfo) (io.Writer, error) {
		path := "body.txt"
		if i > 0 {
			path = filepath.Join("files", pi.Name)
			os.MkdirAll(filepath.Join(stage, "files"), 0o700)
		}
		f, err := os.OpenFile(filepath.Join(stage, path), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		rec.Parts = append(rec.Parts, ReceivedPart{Name: pi.Name, MediaType: pi.MediaType, Size: pi.Size, Path: path})
		return f, nil
	}
	verify := func(h *letter.Header) error {
		if err := h.Verify(senderKey); err != nil {
			return err
		}
		if h.ID != eh.ID || h.From != eh.From || h.Device != eh.Device || h.To != eh.To || h.Epoch != eh.Epoch || h.Precedence != eh.Precedence {
			return errors.New("letter header does not match its envelope")
		}
		return nil
	}
	lh, err := letter.Open(cr, ids, verify, sink)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return nil, err
	}
	if uint64(cr.n) != eh.Size || !bytes.Equal(digest.Sum(nil), eh.Digest[:]) {
		return nil, errors.New("ciphertext does not match the envelope's signed size and digest")
	}
	for _, f := range files {
		if err := f.Sync(); err != nil {
			return nil, err
		}
	}
	rec.ID, rec.From, rec.Device, rec.To, rec.Office = lh.ID.String(), lh.From, lh.Device, lh.To, lh.Office
	rec.Subject, rec.Precedence, rec.Seq, rec.Created = lh.Subject, lh.Precedence.String(), lh.Seq, lh.Created
	rec.senderRoster = lh.SenderRoster
	rec.Header, rec.Trailer = lh.Raw, lh.Trailer()
	rec.Thread, rec.ReplyTo = hex.EncodeToString(lh.Thread), hex.EncodeToString(lh.ReplyTo)
	return rec, nil
}

// Letter returns the archived record of an opened letter; the error wraps
// os.ErrNotExist if it is not in the archive.
func (p *Party) Letter(id string) (*Received, error) {
	if _, err := envelope.ParseID(id); err != nil {
		return nil, err
	}
	var rec Received
	if err := getLetter(p.db, boxReceived, id, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

// LetterDir returns the archive folder of an opened letter.
func (p *Party) LetterDir(id string) string { return p.archivePath(id) }

func (p *Party) archivePath(id string) string { return filepath.Join(p.dir, "archive", id) }

// Ack sends the signed acknowledged receipt for an opened letter: a person
// of this party has read it.
func (p *Party) Ack(ctx context.Context, id string) (*Received, error) {
	rec, err := p.Letter(id)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("letter %s is not in the archive (read it first)", id)
	} else if err != nil {
		return nil, err
	}
	return rec, p.fileReceipt(ctx, rec, envelope.Acknowledged)
}

// fileReceipt signs a receipt of the given kind for an archived letter,
// records it, and posts it to the relay: the one recorded already, if
// there is one (recordReceipt).
func (p *Party) fileReceipt(ctx context.Context, rec *Received, kind envelope.Kind) error {
	rc, err := p.recordReceipt(rec, kind)
	if err != nil {
		return err
	}
	resp, err := p.do(ctx, http.MethodPost, api.PathReceipts, bodyOf(rc.Raw), int64(len(rc.Raw)))
	if err != nil {
		return fmt.Errorf("the %s receipt is recorded here but did not reach the relay (it is sent again by 'brief watch', or by this command run again): %w", kind, err)
	}
	resp.Body.Close()
	if slices.Contains(rec.Unsent, kind) {
		if err := p.markReceiptSent(rec.ID, kind); err != nil {
			return err
		}
		rec.Unsent = slices.DeleteFunc(rec.Unsent, func(k envelope.Kind) bool { return k == kind })
	}
	return nil
}

// recordReceipt returns the receipt of the given kind recorded for an
// archived letter, or signs one and records it, in one transaction, so
// that two processes receiving one letter at once record one receipt, the
// one both post. rec's receipts are updated from the record.
func (p *Party) recordReceipt(rec *Received, kind envelope.Kind) (*envelope.Receipt, error) {
	if rc := receiptOf(rec.Receipts, kind); rc != nil {
		return rc, nil // recorded (records only grow), and rec.Unsent says whether sent
	}
	var rc *envelope.Receipt
	err := p.inDurableTx(func(tx *sql.Tx) error {
		var disk Received
		if err := getLetter(tx, boxReceived, rec.ID, &disk); err != nil {
			return err
		}
		if rc = receiptOf(disk.Receipts, kind); rc == nil {
			eh, err := envelope.Parse(disk.Envelope)
			if err != nil {
				return err
			}
			rc = &envelope.Receipt{Kind: kind, ID: eh.ID, Envelope: eh.Hash(), Party: p.keys.Party, Signer: p.keys.Device, Time: p.now()}
			if err := rc.Sign(p.keys.Sign); err != nil {
				return err
			}
			disk.Receipts = append(disk.Receipts, rc.Raw)
			disk.Unsent = append(disk.Unsent, kind)
			if err := putReceivedRecord(tx, &disk, ""); err != nil {
				return err
			}
		}
		rec.Receipts, rec.Unsent = disk.Receipts, disk.Unsent
		return nil
	})
	return rc, err
}

// receiptOf returns the receipt of the given kind among raw, or nil.
func receiptOf(raw [][]byte, kind envelope.Kind) *envelope.Receipt {
	for _, b := range raw {
		if r, err := envelope.ParseReceipt(b); err == nil && r.Kind == kind {
			return r
		}
	}
	return nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}
