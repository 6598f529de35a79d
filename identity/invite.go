package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"brieftraeger/internal/wire"
)

// Layout versions of the invitation, its answer and a channel consent.
const (
	InvitationVersion     = 1
	InviteAnswerVersion   = 1
	ChannelConsentVersion = 1
)

// macSize is the length of the HMAC-SHA256 tag that ends an invitation
// and an answer.
const macSize = sha256.Size

// maxInviteTime bounds an invitation's expiry, in seconds since 1970.
const maxInviteTime = 1 << 40

// ErrInviteAuth means that an invitation or an answer does not carry the
// MAC of the code it was opened with: the relay, or someone between,
// changed it (a wrong code finds no invitation at all).
var ErrInviteAuth = errors.New("it is not authenticated by this code: the relay, or someone between, changed it")

// Invitation is party From's invitation to party For: From's pinned root
// key, authenticated with a key derived from the code ([InviteCode]), so
// that For's device can tell that it is From's. The relay stores it under
// Lookup and cannot change it without the code.
type Invitation struct {
	Lookup  [32]byte
	From    string
	For     string
	Root    ed25519.PublicKey
	Expires time.Time // whole seconds

	Raw []byte // body || tag, set by NewInvitation and the parsers
}

// NewInvitation makes the invitation of party from to party to, carrying
// from's pinned root key, valid until expires, authenticated with code.
func NewInvitation(code InviteCode, from, to string, root ed25519.PublicKey, expires time.Time) (*Invitation, error) {
	inv := &Invitation{Lookup: code.Lookup(), From: from, For: to, Root: root, Expires: expires.Truncate(time.Second)}
	body, err := inv.body()
	if err != nil {
		return nil, fmt.Errorf("failed to encode invitation: %w", err)
	}
	inv.Raw = append(body, inviteMAC(code, ContextInvitation, body)...)
	return inv, nil
}

func (inv *Invitation) body() ([]byte, error) {
	if err := checkInvite(inv.From, inv.For, inv.Root, inv.Expires); err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddUint8(InvitationVersion)
	b.AddBytes(inv.Lookup[:])
	wire.AddString8(&b, inv.From)
	wire.AddString8(&b, inv.For)
	b.AddBytes(inv.Root)
	b.AddUint64(uint64(inv.Expires.Unix()))
	return b.Bytes()
}

func checkInvite(from, to string, root []byte, expires time.Time) error {
	if err := CheckName("party", from); err != nil {
		return err
	}
	if err := CheckName("party", to); err != nil {
		return err
	}
	if from == to {
		return fmt.Errorf("a party cannot invite itself (%q)", from)
	}
	if len(root) != ed25519.PublicKeySize {
		return errors.New("root key has the wrong length")
	}
	if s := expires.Unix(); s < 1 || s >= maxInviteTime {
		return errors.New("expiry out of range")
	}
	return nil
}

// DecodeInvitation parses an invitation's form without its MAC, as the
// relay, which has no code, does.
func DecodeInvitation(raw []byte) (*Invitation, error) {
	if len(raw) < macSize {
		return nil, errors.New("malformed invitation: too short")
	}
	s := cryptobyte.String(raw[:len(raw)-macSize])
	inv := &Invitation{Raw: bytes.Clone(raw)}
	var version uint8
	var lookup, root []byte
	var expires uint64
	if !s.ReadUint8(&version) || version != InvitationVersion {
		return nil, errors.New("malformed invitation: unknown version")
	}
	if !s.ReadBytes(&lookup, 32) || !wire.ReadString8(&s, &inv.From) || !wire.ReadString8(&s, &inv.For) ||
		!s.ReadBytes(&root, ed25519.PublicKeySize) || !s.ReadUint64(&expires) || !s.Empty() || expires >= maxInviteTime {
		return nil, errors.New("malformed invitation")
	}
	copy(inv.Lookup[:], lookup)
	inv.Root = bytes.Clone(root)
	inv.Expires = time.Unix(int64(expires), 0).UTC()
	if err := checkInvite(inv.From, inv.For, inv.Root, inv.Expires); err != nil {
		return nil, fmt.Errorf("malformed invitation: %w", err)
	}
	return inv, nil
}

// OpenInvitation parses an invitation and checks that code authenticates
// it and names it; [ErrInviteAuth] if not.
func OpenInvitation(code InviteCode, raw []byte) (*Invitation, error) {
	inv, err := DecodeInvitation(raw)
	if err != nil {
		return nil, err
	}
	body := raw[:len(raw)-macSize]
	if !hmac.Equal(raw[len(raw)-macSize:], inviteMAC(code, ContextInvitation, body)) || inv.Lookup != code.Lookup() {
		return nil, fmt.Errorf("invitation from %q: %w", inv.From, ErrInviteAuth)
	}
	return inv, nil
}

// Hash is the invitation's hash, which its answer names:
// Hash(ContextInviteHash, body || tag).
func (inv *Invitation) Hash() [32]byte { return Hash(ContextInviteHash, inv.Raw) }

// inviteMAC is HMAC-SHA256 under code's MAC key over context || "\n" ||
// body.
func inviteMAC(code InviteCode, context string, body []byte) []byte {
	m := hmac.New(sha256.New, code.macKey())
	m.Write(contextMessage(context, body))
	return m.Sum(nil)
}

// InviteAnswer is the invited party's answer: its pinned root key,
// authenticated with the same code, for the invitation whose hash it
// names.
type InviteAnswer struct {
	Lookup     [32]byte
	Invitation [32]byte // the invitation's Hash
	From       string   // the invited party
	To         string   // the inviting party
	Root       ed25519.PublicKey

	Raw []byte // body || tag
}

// NewInviteAnswer makes party from's answer to inv, carrying from's pinned
// root key, authenticated with code.
func NewInviteAnswer(code InviteCode, inv *Invitation, from string, root ed25519.PublicKey) (*InviteAnswer, error) {
	a := &InviteAnswer{Lookup: inv.Lookup, Invitation: inv.Hash(), From: from, To: inv.From, Root: root}
	body, err := a.body()
	if err != nil {
		return nil, fmt.Errorf("failed to encode answer: %w", err)
	}
	a.Raw = append(body, inviteMAC(code, ContextInviteAnswer, body)...)
	return a, nil
}

func (a *InviteAnswer) body() ([]byte, error) {
	if err := checkInvite(a.From, a.To, a.Root, time.Unix(1, 0)); err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddUint8(InviteAnswerVersion)
	b.AddBytes(a.Lookup[:])
	b.AddBytes(a.Invitation[:])
	wire.AddString8(&b, a.From)
	wire.AddString8(&b, a.To)
	b.AddBytes(a.Root)
	return b.Bytes()
}

// DecodeInviteAnswer parses an answer's form without its MAC, as the relay
// does.
func DecodeInviteAnswer(raw []byte) (*InviteAnswer, error) {
	if len(raw) < macSize {
		return nil, errors.New("malformed answer: too short")
	}
	s := cryptobyte.String(raw[:len(raw)-macSize])
	a := &InviteAnswer{Raw: bytes.Clone(raw)}
	var version uint8
	var lookup, invHash, root []byte
	if !s.ReadUint8(&version) || version != InviteAnswerVersion {
		return nil, errors.New("malformed answer: unknown version")
	}
	if !s.ReadBytes(&lookup, 32) || !s.ReadBytes(&invHash, 32) || !wire.ReadString8(&s, &a.From) ||
		!wire.ReadString8(&s, &a.To) || !s.ReadBytes(&root, ed25519.PublicKeySize) || !s.Empty() {
		return nil, errors.New("malformed answer")
	}
	copy(a.Lookup[:], lookup)
	copy(a.Invitation[:], invHash)
	a.Root = bytes.Clone(root)
	if err := checkInvite(a.From, a.To, a.Root, time.Unix(1, 0)); err != nil {
		return nil, fmt.Errorf("malformed answer: %w", err)
	}
	return a, nil
}

// OpenInviteAnswer parses an answer to inv and checks that code
// authenticates it ([ErrInviteAuth] if not) and that it answers inv: the
// same lookup and invitation hash, from inv's invited party to its
// inviting one.
func OpenInviteAnswer(code InviteCode, inv *Invitation, raw []byte) (*InviteAnswer, error) {
	a, err := DecodeInviteAnswer(raw)
	if err != nil {
		return nil, err
	}
	body := raw[:len(raw)-macSize]
	if !hmac.Equal(raw[len(raw)-macSize:], inviteMAC(code, ContextInviteAnswer, body)) {
		return nil, fmt.Errorf("answer from %q: %w", a.From, ErrInviteAuth)
	}
	if a.Lookup != inv.Lookup || a.Invitation != inv.Hash() || a.From != inv.For || a.To != inv.From {
		return nil, fmt.Errorf("answer from %q to %q does not answer the invitation of %q to %q", a.From, a.To, inv.From, inv.For)
	}
	return a, nil
}

// ChannelConsent is one party's signed consent to open the channel
// between A and B (sorted by name), for the invitation Lookup names,
// signed by Device, a device on Party's roster. The relay opens the
// channel when it holds the consents of both parties.
type ChannelConsent struct {
	A, B   string
	Lookup [32]byte
	Party  string // A or B
	Device string

	Raw []byte // body || signature
}

// SignChannelConsent signs, with device key key, party's consent to the
// channel with other for the invitation lookup names.
func SignChannelConsent(key ed25519.PrivateKey, party, device, other string, lookup [32]byte) (*ChannelConsent, error) {
	c := &ChannelConsent{A: min(party, other), B: max(party, other), Lookup: lookup, Party: party, Device: device}
	body, err := c.body()
	if err != nil {
		return nil, fmt.Errorf("failed to encode channel consent: %w", err)
	}
	c.Raw = append(body, Sign(key, ContextChannelConsent, body)...)
	return c, nil
}

func (c *ChannelConsent) body() ([]byte, error) {
	if err := checkConsent(c); err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddUint8(ChannelConsentVersion)
	wire.AddString8(&b, c.A)
	wire.AddString8(&b, c.B)
	b.AddBytes(c.Lookup[:])
	wire.AddString8(&b, c.Party)
	wire.AddString8(&b, c.Device)
	return b.Bytes()
}

func checkConsent(c *ChannelConsent) error {
	for _, n := range []string{c.A, c.B, c.Party} {
		if err := CheckName("party", n); err != nil {
			return err
		}
	}
	if err := CheckName("device", c.Device); err != nil {
		return err
	}
	if c.A >= c.B {
		return errors.New("channel parties must be two names in order")
	}
	if c.Party != c.A && c.Party != c.B {
		return fmt.Errorf("party %q is not one of the channel's", c.Party)
	}
	return nil
}

// ParseChannelConsent parses a signed channel consent; its signature is
// checked by [ChannelConsent.Verify] against the key of its device.
func ParseChannelConsent(raw []byte) (*ChannelConsent, error) {
	if len(raw) < ed25519.SignatureSize {
		return nil, errors.New("malformed channel consent: too short")
	}
	s := cryptobyte.String(raw[:len(raw)-ed25519.SignatureSize])
	c := &ChannelConsent{Raw: bytes.Clone(raw)}
	var version uint8
	var lookup []byte
	if !s.ReadUint8(&version) || version != ChannelConsentVersion {
		return nil, errors.New("malformed channel consent: unknown version")
	}
	if !wire.ReadString8(&s, &c.A) || !wire.ReadString8(&s, &c.B) || !s.ReadBytes(&lookup, 32) ||
		!wire.ReadString8(&s, &c.Party) || !wire.ReadString8(&s, &c.Device) || !s.Empty() {
		return nil, errors.New("malformed channel consent")
	}
	copy(c.Lookup[:], lookup)
	if err := checkConsent(c); err != nil {
		return nil, fmt.Errorf("malformed channel consent: %w", err)
	}
	return c, nil
}

// Verify reports whether key, the key of the consent's device, signed it.
func (c *ChannelConsent) Verify(key ed25519.PublicKey) bool {
	n := len(c.Raw) - ed25519.SignatureSize
	return n > 0 && Verify(key, ContextChannelConsent, c.Raw[:n], c.Raw[n:])
}
