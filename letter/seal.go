package letter

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
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

// Attachment is a file to seal into a letter. Open is called once, and must
// yield exactly Size bytes.
type Attachment struct {
	Name      string
	MediaType string
	Size      int64
	Open      func() (io.ReadCloser, error)
}

// Draft is a letter before sealing. A zero ID is replaced by a random one,
// a zero Created by the current time.
type Draft struct {
	ID     envelope.ID
	From   string
	Device string
	To     string
	Office string
	Seq    uint64
	// SenderRoster is the serial of the sender's roster it seals under
	// (Header.SenderRoster).
	SenderRoster uint64
	Precedence   envelope.Precedence
	Subject      string
	Thread       []byte
	ReplyTo      []byte
	Created      time.Time
	Body         []byte
	Attachments  []Attachment
}

// Seal streams the sealed letter to dst, sealed to the recipient's epoch
// key and the sender's own, in one pass over each attachment: the parts are
// hashed as they are sealed, and the digests and the sending device's
// signature follow them in the trailer. It returns the signed header.
func Seal(dst io.Writer, d *Draft, device ed25519.PrivateKey, to, self identity.Epoch) (*Header, error) {
	h, err := header(d, to.Number, self.Number)
	if err != nil {
		return nil, err
	}
	raw, err := h.encode()
	if err != nil {
		return nil, fmt.Errorf("failed to encode letter header: %w", err)
	}
	h.Raw = raw
	var rcpts []age.Recipient
	for _, e := range []identity.Epoch{to, self} {
		r, err := e.AgeRecipient()
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
	if err := writePlaintext(w, h, d, device); err != nil {
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
		Epoch: epoch, SenderEpoch: senderEpoch, SenderRoster: d.SenderRoster, Created: d.Created, Precedence: d.Precedence,
		Subject: d.Subject, Thread: d.Thread, ReplyTo: d.ReplyTo,
	}
	if h.ID == (envelope.ID{}) {
		rand.Read(h.ID[:])
	}
	if h.Created.IsZero() {
		h.Created = time.Now()
	}
	h.Parts = append(h.Parts, PartInfo{MediaType: BodyMediaType, Size: uint64(len(d.Body))})
	for _, a := range d.Attachments {
		if a.Size < 0 {
			return nil, fmt.Errorf("attachment %q has a negative size", a.Name)
		}
		h.Parts = append(h.Parts, PartInfo{Name: a.Name, MediaType: a.MediaType, Size: uint64(a.Size)})
	}
	return h, nil
}

// writePlaintext writes magic, header, parts (hashing them), trailer and
// padding, and signs the header with the digests.
func writePlaintext(w io.Writer, h *Header, d *Draft, device ed25519.PrivateKey) error {
	pre := make([]byte, 0, len(Magic)+4+len(h.Raw))
	pre = append(pre, Magic...)
	pre = binary.BigEndian.AppendUint32(pre, uint32(len(h.Raw)))
	pre = append(pre, h.Raw...)
	if _, err := w.Write(pre); err != nil {
		return err
	}
	n := int64(len(pre))
	body := newDigester(0)
	body.Write(d.Body)
	h.Parts[0].Digest = body.Sum()
	if _, err := w.Write(d.Body); err != nil {
		return err
	}
	n += int64(len(d.Body))
	for i, a := range d.Attachments {
		digest, err := copyAttachment(w, a)
		if err != nil {
			return err
		}
		h.Parts[i+1].Digest = digest
		n += a.Size
	}
	h.Sig = identity.Sign(device, ContextLetter, h.SignedMessage())
	trailer := h.Trailer()
	if _, err := w.Write(trailer); err != nil {
		return err
	}
	return pad(w, n+int64(len(trailer)))
}

// copyAttachment copies exactly a.Size bytes of the attachment to w and
// returns their digest.
func copyAttachment(w io.Writer, a Attachment) ([32]byte, error) {
	f, err := a.Open()
	if err != nil {
		return [32]byte{}, fmt.Errorf("failed to read attachment %q: %w", a.Name, err)
	}
	defer f.Close()
	d := newDigester(uint64(a.Size))
	defer d.stop()
	n, err := io.CopyBuffer(io.MultiWriter(w, d), io.LimitReader(f, a.Size+1), make([]byte, min(64<<10, a.Size+1)))
	if err != nil {
		return [32]byte{}, fmt.Errorf("failed to read attachment %q: %w", a.Name, err)
	}
	if n != a.Size {
		return [32]byte{}, fmt.Errorf("attachment %q is %d bytes, not the %d it was when the letter was started", a.Name, n, a.Size)
	}
	return d.Sum(), nil
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

// errPadding is returned when the padding after the trailer is not all
// zeros or has the wrong length.
var errPadding = errors.New("bad padding")
