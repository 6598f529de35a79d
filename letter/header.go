package letter

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"brieftraeger/envelope"
	"brieftraeger/identity"
	"brieftraeger/internal/wire"
)

// Version is the layout version byte of a letter header: 2 since the
// header names the sender's roster version. Version 1 headers (without
// it) still parse, with SenderRoster 0.
const Version = 2

// Domain-separation contexts of this package (see docs/PROTOCOL.md).
const (
	ContextLetter = "brieftraeger/v1 letter-signature"
	ContextPart   = "brieftraeger/v1 letter-part"
)

// Limits that keep a header small and parsing cheap.
const (
	MaxHeaderLen  = 64 << 10
	MaxParts      = 256
	MaxSubjectLen = 1024
	MaxPartName   = 255

	// maxContentSize bounds the sum of the part sizes, so that every size
	// and the padded length fit in an int64.
	maxContentSize = 1 << 62
)

// maxCreated is the latest creation time an encoded header can carry, in
// Unix milliseconds.
const maxCreated = 1 << 50

// PartInfo describes one part of a letter: its name (empty for the body),
// media type and exact size, which the header carries, and its digest
// (Hash(ContextPart, content)), which the trailer carries.
type PartInfo struct {
	Name      string
	MediaType string
	Size      uint64
	Digest    [32]byte
}

// Header is the signed header of a letter. It binds sender, recipient,
// letter id, sequence number (per sending device and recipient party)
// and every part's digest.
type Header struct {
	ID          envelope.ID
	From        string // sender party
	Device      string // sending device
	To          string // recipient party
	Office      string // recipient office, or empty for the party as a whole
	Seq         uint64 // the sending device's sequence number to this party, from 1
	Epoch       uint32 // recipient epoch sealed to
	SenderEpoch uint32 // sender's own epoch sealed to, for its records
	// SenderRoster is the serial of the sender's roster when it sealed
	// (0 in a version-1 header): a receiver holding an older version
	// follows the sender's chain.
	SenderRoster uint64
	Created      time.Time
	Precedence   envelope.Precedence
	Subject      string
	Thread       []byte // 0 or 16 bytes
	ReplyTo      []byte // 0 or 16 bytes: the letter id replied to
	Parts        []PartInfo

	Raw []byte // the header's encoding, without digests; set by sign and ParseHeader
	Sig []byte // signature over SignedMessage; set by sign and ParseHeader
}

func (h *Header) encode() ([]byte, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddUint8(Version)
	b.AddBytes(h.ID[:])
	wire.AddString8(&b, h.From)
	wire.AddString8(&b, h.Device)
	wire.AddString8(&b, h.To)
	wire.AddString8(&b, h.Office)
	b.AddUint64(h.Seq)
	b.AddUint32(h.Epoch)
	b.AddUint32(h.SenderEpoch)
	b.AddUint64(h.SenderRoster)
	b.AddUint64(uint64(h.Created.UnixMilli()))
	b.AddUint8(uint8(h.Precedence))
	wire.AddString16(&b, h.Subject)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(h.Thread) })
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(h.ReplyTo) })
	b.AddUint16(uint16(len(h.Parts)))
	for _, p := range h.Parts {
		wire.AddString8(&b, p.Name)
		wire.AddString8(&b, p.MediaType)
		b.AddUint64(p.Size)
	}
	return b.Bytes()
}

func (h *Header) check() error {
	for _, n := range []struct{ what, v string }{{"party", h.From}, {"device", h.Device}, {"party", h.To}} {
		if err := identity.CheckName(n.what, n.v); err != nil {
			return err
		}
	}
	if h.Office != "" {
		if err := identity.CheckName("office", h.Office); err != nil {
			return err
		}
	}
	switch {
	case h.Seq == 0:
		return errors.New("sequence numbers start at 1")
	case !h.Precedence.Valid():
		return errors.New("invalid precedence")
	case len(h.Subject) > MaxSubjectLen:
		return fmt.Errorf("subject longer than %d bytes", MaxSubjectLen)
	case len(h.Thread) != 0 && len(h.Thread) != 16, len(h.ReplyTo) != 0 && len(h.ReplyTo) != 16:
		return errors.New("thread and reply-to must be empty or 16 bytes")
	case len(h.Parts) == 0 || len(h.Parts) > MaxParts:
		return fmt.Errorf("a letter has 1 to %d parts", MaxParts)
	case h.Parts[0].Name != "":
		return errors.New("the first part is the body and has no name")
	case h.Created.UnixMilli() <= 0:
		return errors.New("letter has no creation time")
	case h.Created.UnixMilli() > maxCreated:
		return errors.New("letter creation time is too far in the future")
	}
	var total uint64
	for _, p := range h.Parts {
		if p.Size > maxContentSize-total {
			return fmt.Errorf("parts larger than %d bytes in all", uint64(maxContentSize))
		}
		total += p.Size
	}
	names := make(map[string]bool, len(h.Parts)-1)
	for _, p := range h.Parts[1:] {
		if p.Name == "" || len(p.Name) > MaxPartName || bytes.ContainsAny([]byte(p.Name), "/\\\x00") || p.Name == "." || p.Name == ".." {
			return fmt.Errorf("invalid attachment name %q", p.Name)
		}
		if names[p.Name] {
			// A receiver stores each attachment under its name.
			return fmt.Errorf("two attachments named %q", p.Name)
		}
		names[p.Name] = true
	}
	return nil
}

func (h *Header) sign(key ed25519.PrivateKey) error {
	raw, err := h.encode()
	if err != nil {
		return fmt.Errorf("failed to encode letter header: %w", err)
	}
	h.Raw = raw
	h.Sig = identity.Sign(key, ContextLetter, h.SignedMessage())
	return nil
}

// SignedMessage returns what the sending device signs (after the context
// line): the header's length as a big-endian uint32, the header, and each
// part's digest in order.
func (h *Header) SignedMessage() []byte {
	m := make([]byte, 0, 4+len(h.Raw)+32*len(h.Parts))
	m = binary.BigEndian.AppendUint32(m, uint32(len(h.Raw)))
	m = append(m, h.Raw...)
	for _, p := range h.Parts {
		m = append(m, p.Digest[:]...)
	}
	return m
}

// Trailer returns the trailer that follows the parts in a letter: each
// part's digest, then the signature.
func (h *Header) Trailer() []byte {
	t := make([]byte, 0, h.trailerLen())
	for _, p := range h.Parts {
		t = append(t, p.Digest[:]...)
	}
	return append(t, h.Sig...)
}

func (h *Header) trailerLen() int { return 32*len(h.Parts) + ed25519.SignatureSize }

// Verify checks the signature over the header and the part digests against
// the sending device's key.
func (h *Header) Verify(device ed25519.PublicKey) error {
	if len(h.Sig) != ed25519.SignatureSize || !identity.Verify(device, ContextLetter, h.SignedMessage(), h.Sig) {
		return fmt.Errorf("letter %s: bad signature from %s/%s", h.ID, h.From, h.Device)
	}
	return nil
}

// ParseHeader parses an encoded header and, if trailer is not nil, the
// trailer that carries the part digests and the signature. The caller checks
// the signature with Verify.
func ParseHeader(raw, trailer []byte) (*Header, error) {
	h, err := parseHeader(raw)
	if err != nil {
		return nil, err
	}
	if trailer != nil {
		if err := h.setTrailer(trailer); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// setTrailer takes the part digests and the signature from a trailer.
func (h *Header) setTrailer(t []byte) error {
	if len(t) != h.trailerLen() {
		return errors.New("malformed letter trailer: bad length")
	}
	for i := range h.Parts {
		copy(h.Parts[i].Digest[:], t[32*i:])
	}
	h.Sig = bytes.Clone(t[32*len(h.Parts):])
	return nil
}

func parseHeader(raw []byte) (*Header, error) {
	if len(raw) > MaxHeaderLen {
		return nil, errors.New("malformed letter header: bad length")
	}
	s := cryptobyte.String(raw)
	h := &Header{Raw: bytes.Clone(raw)}
	var version, prec uint8
	var ms uint64
	var thread, reply cryptobyte.String
	var n uint16
	if !s.ReadUint8(&version) || version != 1 && version != Version || !s.CopyBytes(h.ID[:]) ||
		!wire.ReadString8(&s, &h.From) || !wire.ReadString8(&s, &h.Device) ||
		!wire.ReadString8(&s, &h.To) || !wire.ReadString8(&s, &h.Office) ||
		!s.ReadUint64(&h.Seq) || !s.ReadUint32(&h.Epoch) || !s.ReadUint32(&h.SenderEpoch) ||
		version == Version && !s.ReadUint64(&h.SenderRoster) ||
		!s.ReadUint64(&ms) || ms > maxCreated || !s.ReadUint8(&prec) || !wire.ReadString16(&s, &h.Subject) ||
		!s.ReadUint8LengthPrefixed(&thread) || !s.ReadUint8LengthPrefixed(&reply) ||
		!s.ReadUint16(&n) || n > MaxParts {
		return nil, errors.New("malformed letter header")
	}
	h.Created = time.UnixMilli(int64(ms)).UTC()
	h.Precedence = envelope.Precedence(prec)
	if len(thread) > 0 {
		h.Thread = bytes.Clone(thread)
	}
	if len(reply) > 0 {
		h.ReplyTo = bytes.Clone(reply)
	}
	for range n {
		var p PartInfo
		if !wire.ReadString8(&s, &p.Name) || !wire.ReadString8(&s, &p.MediaType) ||
			!s.ReadUint64(&p.Size) {
			return nil, errors.New("malformed letter header: bad part")
		}
		h.Parts = append(h.Parts, p)
	}
	if !s.Empty() {
		return nil, errors.New("malformed letter header: trailing data")
	}
	if err := h.check(); err != nil {
		return nil, fmt.Errorf("malformed letter header: %w", err)
	}
	return h, nil
}
