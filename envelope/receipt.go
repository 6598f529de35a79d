package envelope

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"brieftraeger/identity"
	"brieftraeger/internal/wire"
)

// Kind is the step a receipt is evidence of.
type Kind uint8

// The receipt kinds, in the order a letter takes them.
const (
	Posted       Kind = 1 // signed by the relay: the envelope is durable
	Delivered    Kind = 2 // signed by the receiving device: it opened and verified the letter
	Acknowledged Kind = 3 // signed by the receiving device on a person's word
)

// String returns the kind's lowercase name.
func (k Kind) String() string {
	switch k {
	case Posted:
		return "posted"
	case Delivered:
		return "delivered"
	case Acknowledged:
		return "acknowledged"
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// RelaySigner is the signer name a relay uses in its receipts.
const RelaySigner = "relay"

// Receipt is signed evidence that a letter took one step.
type Receipt struct {
	Kind     Kind
	ID       ID
	Envelope [32]byte // Header.Hash of the envelope it is about
	Party    string   // signer's party; the relay's name for Posted
	Signer   string   // signing device, or RelaySigner
	Time     time.Time
	Seq      uint64 // for Posted: the relay's mail sequence number; else 0

	Raw []byte // signed encoding, set by Sign and ParseReceipt
	Sig []byte
}

func (r *Receipt) body() ([]byte, error) {
	if r.Kind < Posted || r.Kind > Acknowledged {
		return nil, errors.New("invalid receipt kind")
	}
	if err := identity.CheckName("party", r.Party); err != nil {
		return nil, err
	}
	if err := identity.CheckName("signer", r.Signer); err != nil {
		return nil, err
	}
	if r.Time.UnixMilli() <= 0 {
		return nil, errors.New("receipt has no time")
	}
	if r.Time.UnixMilli() > maxTime {
		return nil, errors.New("receipt time is too far in the future")
	}
	var b cryptobyte.Builder
	b.AddUint8(Version)
	b.AddUint8(uint8(r.Kind))
	b.AddBytes(r.ID[:])
	b.AddBytes(r.Envelope[:])
	wire.AddString8(&b, r.Party)
	wire.AddString8(&b, r.Signer)
	b.AddUint64(uint64(r.Time.UnixMilli()))
	b.AddUint64(r.Seq)
	return b.Bytes()
}

// Sign encodes and signs the receipt, setting Raw and Sig.
func (r *Receipt) Sign(key ed25519.PrivateKey) error {
	body, err := r.body()
	if err != nil {
		return fmt.Errorf("failed to encode receipt: %w", err)
	}
	r.Sig = identity.Sign(key, ContextReceipt, body)
	r.Raw = append(body, r.Sig...)
	return nil
}

// Verify checks the receipt's signature against the signer's key.
func (r *Receipt) Verify(key ed25519.PublicKey) error {
	if len(r.Raw) < ed25519.SignatureSize || !identity.Verify(key, ContextReceipt, r.Raw[:len(r.Raw)-ed25519.SignatureSize], r.Sig) {
		return fmt.Errorf("%s receipt for %s: bad signature from %s/%s", r.Kind, r.ID, r.Party, r.Signer)
	}
	return nil
}

// MaxReceiptLen bounds an encoded receipt.
const MaxReceiptLen = 512

// maxTime is the latest receipt time an encoding can carry, in Unix
// milliseconds.
const maxTime = 1 << 50

// ParseReceipt parses a signed receipt; the caller verifies it.
func ParseReceipt(raw []byte) (*Receipt, error) {
	if len(raw) > MaxReceiptLen || len(raw) < ed25519.SignatureSize {
		return nil, errors.New("malformed receipt: bad length")
	}
	s := cryptobyte.String(raw[:len(raw)-ed25519.SignatureSize])
	r := &Receipt{Raw: bytes.Clone(raw), Sig: bytes.Clone(raw[len(raw)-ed25519.SignatureSize:])}
	var version, kind uint8
	var ms uint64
	if !s.ReadUint8(&version) || version != Version || !s.ReadUint8(&kind) ||
		!s.CopyBytes(r.ID[:]) || !s.CopyBytes(r.Envelope[:]) ||
		!wire.ReadString8(&s, &r.Party) || !wire.ReadString8(&s, &r.Signer) ||
		!s.ReadUint64(&ms) || !s.ReadUint64(&r.Seq) || !s.Empty() || ms > maxTime {
		return nil, errors.New("malformed receipt")
	}
	r.Kind = Kind(kind)
	r.Time = time.UnixMilli(int64(ms)).UTC()
	if _, err := r.body(); err != nil {
		return nil, fmt.Errorf("malformed receipt: %w", err)
	}
	return r, nil
}
