package letter

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"filippo.io/age"

	"brieftraeger/envelope"
	"brieftraeger/identity"
)

// Magic opens every letter's plaintext.
const Magic = "brieftraeger/v1 letter\n"

// BodyMediaType is the media type of a letter's body part.
const BodyMediaType = "text/plain; charset=utf-8"

// Attachment is a file to seal into a letter. Open is called twice: once
// to hash the content and once to seal it, so it must return the same
// bytes both times.
type Attachment struct {
	Name      string
	MediaType string
	Open      func() (io.ReadCloser, error)
}

// Draft is a letter before sealing. A zero ID is replaced by a random one,
// a zero Created by the current time.
type Draft struct {
	ID          envelope.ID
	From        string
	Device      string
	To          string
	Office      string
	Seq         uint64
	Precedence  envelope.Precedence
	Subject     string
	Thread      []byte
	ReplyTo     []byte
	Created     time.Time
	Body        []byte
	Attachments []Attachment
}

// Seal hashes the draft's parts, signs the header with the sending
// device's key and streams the sealed letter to dst, sealed to the
// recipient's epoch key and the sender's own. It returns the signed header.
func Seal(dst io.Writer, d *Draft, device ed25519.PrivateKey, to, self identity.Epoch) (*Header, error) {
	h, err := header(d, to.Number, self.Number)
	if err != nil {
		return nil, err
	}
	if err := h.sign(device); err != nil {
		return nil, err
	}
	var rcpts []age.Recipient
	for _, e := range []identity.Epoch{to, self} {
		r, err := age.ParseHybridRecipient(e.Recipient)
		if err != nil {
			return nil, fmt.Errorf("failed to seal letter: epoch %d: %w", e.Number, err)
		}
		rcpts = append(rcpts, r)
	}
	aw, err := age.Encrypt(dst, rcpts...)
	if err != nil {
		return nil, fmt.Errorf("failed to seal letter: %w", err)
	}
	w := bufio.NewWriterSize(aw, 64<<10)
	n, err := writePlaintext(w, h, d)
	if err != nil {
		return nil, fmt.Errorf("failed to seal letter: %w", err)
	}
	if err := pad(w, n); err != nil {
		return nil, fmt.Errorf("failed to seal letter: %w", err)
	}
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("failed to seal letter: %w", err)
	}
	if err := aw.Close(); err != nil {
		return nil, fmt.Errorf("failed to seal letter: %w", err)
	}
	return h, nil
}

func header(d *Draft, epoch, senderEpoch uint32) (*Header, error) {
	h := &Header{
		ID: d.ID, From: d.From, Device: d.Device, To: d.To, Office: d.Office, Seq: d.Seq,
		Epoch: epoch, SenderEpoch: senderEpoch, Created: d.Created, Precedence: d.Precedence,
		Subject: d.Subject, Thread: d.Thread, ReplyTo: d.ReplyTo,
	}
	if h.ID == (envelope.ID{}) {
		rand.Read(h.ID[:])
	}
	if h.Created.IsZero() {
		h.Created = time.Now()
	}
	h.Parts = append(h.Parts, PartInfo{MediaType: BodyMediaType, Size: uint64(len(d.Body)), Digest: identity.Hash(ContextPart, d.Body)})
	for _, a := range d.Attachments {
		p := PartInfo{Name: a.Name, MediaType: a.MediaType}
		var err error
		if p.Size, p.Digest, err = hashAttachment(a); err != nil {
			return nil, err
		}
		h.Parts = append(h.Parts, p)
	}
	return h, nil
}

func newPartHash() hash.Hash {
	h := sha256.New()
	h.Write([]byte(ContextPart + "\n"))
	return h
}

func hashAttachment(a Attachment) (uint64, [32]byte, error) {
	var sum [32]byte
	f, err := a.Open()
	if err != nil {
		return 0, sum, fmt.Errorf("failed to read attachment %q: %w", a.Name, err)
	}
	defer f.Close()
	h := newPartHash()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, sum, fmt.Errorf("failed to read attachment %q: %w", a.Name, err)
	}
	h.Sum(sum[:0])
	return uint64(n), sum, nil
}

// writePlaintext writes magic, header and parts, and returns the number of
// bytes written.
func writePlaintext(w io.Writer, h *Header, d *Draft) (int64, error) {
	pre := make([]byte, 0, len(Magic)+4+len(h.Raw)+len(h.Sig))
	pre = append(pre, Magic...)
	pre = binary.BigEndian.AppendUint32(pre, uint32(len(h.Raw)))
	pre = append(pre, h.Raw...)
	pre = append(pre, h.Sig...)
	pre = append(pre, d.Body...)
	if _, err := w.Write(pre); err != nil {
		return 0, err
	}
	total := int64(len(pre))
	for i, a := range d.Attachments {
		n, err := copyAttachment(w, a)
		if err != nil {
			return 0, err
		}
		if uint64(n) != h.Parts[i+1].Size {
			return 0, fmt.Errorf("attachment %q changed while sealing", a.Name)
		}
		total += n
	}
	return total, nil
}

func copyAttachment(w io.Writer, a Attachment) (int64, error) {
	f, err := a.Open()
	if err != nil {
		return 0, fmt.Errorf("failed to read attachment %q: %w", a.Name, err)
	}
	defer f.Close()
	return io.Copy(w, f)
}

var zeros [64 << 10]byte

func pad(w io.Writer, n int64) error {
	for left := envelope.PaddedSize(n) - n; left > 0; {
		k := min(left, int64(len(zeros)))
		if _, err := w.Write(zeros[:k]); err != nil {
			return err
		}
		left -= k
	}
	return nil
}

// errPadding is returned when the padding after the last part is not all
// zeros or has the wrong length.
var errPadding = errors.New("bad padding")
