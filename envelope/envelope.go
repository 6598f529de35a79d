package envelope

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"

	"brieftraeger/identity"
	"brieftraeger/internal/wire"
)

// Version is the layout version byte of envelope headers and receipts.
const Version = 1

// Domain-separation contexts of this package (see docs/PROTOCOL.md).
const (
	ContextEnvelope     = "brieftraeger/v1 envelope"
	ContextEnvelopeHash = "brieftraeger/v1 envelope-hash"
	ContextCiphertext   = "brieftraeger/v1 ciphertext"
	ContextReceipt      = "brieftraeger/v1 receipt"
)

// MaxHeaderLen bounds the encoded envelope header.
const MaxHeaderLen = 1024

// ID is a letter's identifier: 16 random bytes chosen by the sender.
type ID [16]byte

// String returns the id as 32 lowercase hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ParseID parses the form made by ID.String.
func ParseID(s string) (ID, error) {
	var id ID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) || hex.EncodeToString(b) != s {
		return id, fmt.Errorf("invalid letter id %q: want 32 lowercase hex digits", s)
	}
	copy(id[:], b)
	return id, nil
}

// Header is the signed outer header of an envelope. It binds the letter id,
// the addressing, the recipient epoch, the precedence and the ciphertext
// (by size and digest) to the sending device's signature.
type Header struct {
	ID         ID
	From       string // sender party
	Device     string // sending device, on the sender's roster
	To         string // recipient party
	Epoch      uint32 // recipient's epoch key the letter is sealed to
	Precedence Precedence
	Size       uint64   // ciphertext length in bytes (already padded)
	Digest     [32]byte // CiphertextDigest of the ciphertext

	// Raw is the signed encoding (including Sig), set by Sign and Parse.
	Raw []byte
	Sig []byte
}

func (h *Header) body() ([]byte, error) {
	if err := identity.CheckName("party", h.From); err != nil {
		return nil, err
	}
	if err := identity.CheckName("device", h.Device); err != nil {
		return nil, err
	}
	if err := identity.CheckName("party", h.To); err != nil {
		return nil, err
	}
	if !h.Precedence.Valid() {
		return nil, errors.New("invalid precedence")
	}
	var b cryptobyte.Builder
	b.AddUint8(Version)
	b.AddBytes(h.ID[:])
	wire.AddString8(&b, h.From)
	wire.AddString8(&b, h.Device)
	wire.AddString8(&b, h.To)
	b.AddUint32(h.Epoch)
	b.AddUint8(uint8(h.Precedence))
	b.AddUint64(h.Size)
	b.AddBytes(h.Digest[:])
	return b.Bytes()
}

// Sign encodes h and signs it with the sending device's key, setting Raw
// and Sig.
func (h *Header) Sign(device ed25519.PrivateKey) error {
	body, err := h.body()
	if err != nil {
		return fmt.Errorf("failed to encode envelope: %w", err)
	}
	h.Sig = identity.Sign(device, ContextEnvelope, body)
	h.Raw = append(body, h.Sig...)
	return nil
}

// Verify checks the header's signature against the sending device's key.
func (h *Header) Verify(device ed25519.PublicKey) error {
	if len(h.Raw) < ed25519.SignatureSize || !identity.Verify(device, ContextEnvelope, h.Raw[:len(h.Raw)-ed25519.SignatureSize], h.Sig) {
		return fmt.Errorf("envelope %s: bad signature from %s/%s", h.ID, h.From, h.Device)
	}
	return nil
}

// Hash returns the envelope hash that receipts refer to.
func (h *Header) Hash() [32]byte { return identity.Hash(ContextEnvelopeHash, h.Raw) }

// Parse parses a signed envelope header. It checks the form only; the
// caller checks the signature with Verify against the sender's roster.
func Parse(raw []byte) (*Header, error) {
	if len(raw) > MaxHeaderLen || len(raw) < ed25519.SignatureSize {
		return nil, errors.New("malformed envelope: bad header length")
	}
	s := cryptobyte.String(raw[:len(raw)-ed25519.SignatureSize])
	h := &Header{Raw: bytes.Clone(raw), Sig: bytes.Clone(raw[len(raw)-ed25519.SignatureSize:])}
	var version, prec uint8
	if !s.ReadUint8(&version) || version != Version {
		return nil, errors.New("malformed envelope: unknown version")
	}
	if !s.CopyBytes(h.ID[:]) || !wire.ReadString8(&s, &h.From) || !wire.ReadString8(&s, &h.Device) ||
		!wire.ReadString8(&s, &h.To) || !s.ReadUint32(&h.Epoch) || !s.ReadUint8(&prec) ||
		!s.ReadUint64(&h.Size) || !s.CopyBytes(h.Digest[:]) || !s.Empty() {
		return nil, errors.New("malformed envelope: bad header fields")
	}
	h.Precedence = Precedence(prec)
	if _, err := h.body(); err != nil {
		return nil, fmt.Errorf("malformed envelope: %w", err)
	}
	return h, nil
}

// WriteHeader writes the framing that precedes the ciphertext in an
// envelope stream: a two-byte big-endian length, then the signed header.
func WriteHeader(w io.Writer, h *Header) error {
	var n [2]byte
	binary.BigEndian.PutUint16(n[:], uint16(len(h.Raw)))
	if _, err := w.Write(append(n[:], h.Raw...)); err != nil {
		return fmt.Errorf("failed to write envelope header: %w", err)
	}
	return nil
}

// ReadHeader reads the framing written by WriteHeader and parses the header.
// The ciphertext, h.Size bytes, follows in r.
func ReadHeader(r io.Reader) (*Header, error) {
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, fmt.Errorf("malformed envelope: %w", err)
	}
	l := binary.BigEndian.Uint16(n[:])
	if l > MaxHeaderLen {
		return nil, errors.New("malformed envelope: header too long")
	}
	raw := make([]byte, l)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("malformed envelope: truncated header: %w", err)
	}
	return Parse(raw)
}
