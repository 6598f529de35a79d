package identity

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/cryptobyte"

	"brieftraeger/internal/wire"
)

// RosterVersion is the layout version byte of an encoded roster.
const RosterVersion = 1

// Device is one key holder acting for a party, as its roster names it.
type Device struct {
	Name      string            // unique within the party
	Key       ed25519.PublicKey // signs envelopes, letters and receipts
	Recipient string            // age hybrid recipient ("age1pq1…") that epoch secrets are sealed to
}

// Epoch is one of a party's epoch keys as its roster names it.
type Epoch struct {
	Number    uint32
	Recipient string    // age hybrid recipient that letters are sealed to
	NotAfter  time.Time // after this, letters must not be sealed to it (second precision)

	parsed     *age.HybridRecipient // Recipient, parsed when the roster was checked
	parsedFrom string
}

// NewEpoch returns an epoch with its recipient parsed once, as the epochs
// of a checked roster are.
func NewEpoch(number uint32, recipient string, notAfter time.Time) (Epoch, error) {
	r, err := age.ParseHybridRecipient(recipient)
	if err != nil {
		return Epoch{}, fmt.Errorf("epoch %d recipient: %v", number, err)
	}
	return Epoch{Number: number, Recipient: recipient, NotAfter: notAfter, parsed: r, parsedFrom: recipient}, nil
}

// AgeRecipient returns the epoch key as an age recipient. Parsing an
// ML-KEM key costs tens of microseconds, so epochs of a checked roster
// carry it parsed.
func (e *Epoch) AgeRecipient() (*age.HybridRecipient, error) {
	if e.parsed != nil && e.parsedFrom == e.Recipient {
		return e.parsed, nil
	}
	return age.ParseHybridRecipient(e.Recipient)
}

// Roster is one version of a party's signed list of devices and epoch keys.
// The zero value is not valid; build one and call [Roster.Sign].
type Roster struct {
	Party   string
	Serial  uint64            // 1 for the first version, +1 for each change
	Root    ed25519.PublicKey // the key that must sign the next version
	Prev    [32]byte          // RosterHash of the previous version; zero for Serial 1
	Devices []Device
	Epochs  []Epoch

	// Raw is the signed encoding this roster was parsed from or signed
	// into; Sig is its signature. Both are set by Sign and ParseRoster.
	Raw []byte
	Sig []byte
}

// Limits on rosters, so that parsing cannot be made to allocate much.
const (
	MaxDevices = 256
	MaxEpochs  = 64
)

// maxNotAfter is the latest epoch expiry an encoded roster can carry, in
// Unix seconds.
const maxNotAfter = 1 << 40

func (r *Roster) body() ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddUint8(RosterVersion)
	wire.AddString8(&b, r.Party)
	b.AddUint64(r.Serial)
	b.AddBytes(r.Root)
	b.AddBytes(r.Prev[:])
	b.AddUint16(uint16(len(r.Devices)))
	for _, d := range r.Devices {
		wire.AddString8(&b, d.Name)
		b.AddBytes(d.Key)
		wire.AddString16(&b, d.Recipient)
	}
	b.AddUint16(uint16(len(r.Epochs)))
	for _, e := range r.Epochs {
		b.AddUint32(e.Number)
		wire.AddString16(&b, e.Recipient)
		b.AddUint64(uint64(e.NotAfter.Unix()))
	}
	return b.Bytes()
}

func (r *Roster) check() error {
	if err := CheckName("party", r.Party); err != nil {
		return err
	}
	if r.Serial == 0 {
		return errors.New("roster serial must start at 1")
	}
	if len(r.Root) != ed25519.PublicKeySize {
		return errors.New("roster root key has the wrong length")
	}
	if (r.Serial == 1) != (r.Prev == [32]byte{}) {
		return errors.New("roster previous hash must be zero exactly for serial 1")
	}
	if len(r.Devices) == 0 || len(r.Devices) > MaxDevices {
		return fmt.Errorf("roster must name 1 to %d devices", MaxDevices)
	}
	if len(r.Epochs) == 0 || len(r.Epochs) > MaxEpochs {
		return fmt.Errorf("roster must name 1 to %d epoch keys", MaxEpochs)
	}
	seen := map[string]bool{}
	for _, d := range r.Devices {
		if err := CheckName("device", d.Name); err != nil {
			return err
		}
		if seen[d.Name] {
			return fmt.Errorf("roster names device %q twice", d.Name)
		}
		seen[d.Name] = true
		if len(d.Key) != ed25519.PublicKeySize {
			return fmt.Errorf("device %q key has the wrong length", d.Name)
		}
		if _, err := age.ParseHybridRecipient(d.Recipient); err != nil {
			return fmt.Errorf("device %q recipient: %v", d.Name, err)
		}
	}
	for i := range r.Epochs {
		e := &r.Epochs[i]
		if i > 0 && e.Number <= r.Epochs[i-1].Number {
			return errors.New("roster epochs must be in increasing order")
		}
		parsed, err := age.ParseHybridRecipient(e.Recipient)
		if err != nil {
			return fmt.Errorf("epoch %d recipient: %v", e.Number, err)
		}
		e.parsed, e.parsedFrom = parsed, e.Recipient
		if e.NotAfter.Unix() <= 0 {
			return fmt.Errorf("epoch %d has no expiry", e.Number)
		}
		if e.NotAfter.Unix() > maxNotAfter {
			return fmt.Errorf("epoch %d expiry is too far in the future", e.Number)
		}
	}
	return nil
}

// Sign encodes r and signs it with signer, which must be the root key named
// by the previous version (or, for serial 1, r.Root itself). It sets r.Raw
// and r.Sig.
func (r *Roster) Sign(signer ed25519.PrivateKey) error {
	body, err := r.body()
	if err != nil {
		return fmt.Errorf("failed to encode roster: %w", err)
	}
	sig := Sign(signer, ContextRoster, body)
	r.Raw = append(body, sig...)
	r.Sig = sig
	return nil
}

// Hash returns RosterHash of the signed encoding.
func (r *Roster) Hash() [32]byte { return Hash(ContextRosterHash, r.Raw) }

// Device returns the device with the given name, or nil.
func (r *Roster) Device(name string) *Device {
	for i := range r.Devices {
		if r.Devices[i].Name == name {
			return &r.Devices[i]
		}
	}
	return nil
}

// Epoch returns the epoch key with the given number, or nil.
func (r *Roster) Epoch(n uint32) *Epoch {
	for i := range r.Epochs {
		if r.Epochs[i].Number == n {
			return &r.Epochs[i]
		}
	}
	return nil
}

// CurrentEpoch returns the newest epoch key that has not expired at now.
func (r *Roster) CurrentEpoch(now time.Time) (*Epoch, error) {
	for i := len(r.Epochs) - 1; i >= 0; i-- {
		if now.Before(r.Epochs[i].NotAfter) {
			return &r.Epochs[i], nil
		}
	}
	return nil, fmt.Errorf("party %q has no unexpired epoch key", r.Party)
}

// ParseRoster parses a signed roster and checks its signature against its
// own root if it is serial 1, or against prev.Root otherwise. prev must be
// the previous version for serial > 1, and its hash must match r.Prev.
// ParseRoster alone does not make a roster trusted: see [VerifyChain].
func ParseRoster(raw []byte, prev *Roster) (*Roster, error) {
	r, err := decodeRoster(raw)
	if err != nil {
		return nil, fmt.Errorf("malformed roster: %w", err)
	}
	signer := r.Root
	// A serial-1 roster after prev would restart the chain under a root of
	// its own choosing, so with prev given it must follow prev like any other.
	if r.Serial > 1 || prev != nil {
		if prev == nil {
			return nil, fmt.Errorf("roster %s#%d needs its previous version to verify", r.Party, r.Serial)
		}
		if prev.Party != r.Party || prev.Serial+1 != r.Serial || prev.Hash() != r.Prev {
			return nil, fmt.Errorf("roster %s#%d does not follow %s#%d", r.Party, r.Serial, prev.Party, prev.Serial)
		}
		signer = prev.Root
	}
	if !Verify(signer, ContextRoster, r.Raw[:len(r.Raw)-ed25519.SignatureSize], r.Sig) {
		return nil, fmt.Errorf("roster %s#%d: bad signature", r.Party, r.Serial)
	}
	return r, nil
}

// VerifyChain verifies a chain of roster versions, oldest first, starting at
// serial 1 whose root must equal the pinned root, and returns the newest.
func VerifyChain(pinned ed25519.PublicKey, chain [][]byte) (*Roster, error) {
	var prev *Roster
	for _, raw := range chain {
		r, err := ParseRoster(raw, prev)
		if err != nil {
			return nil, err
		}
		if prev == nil && (r.Serial != 1 || !bytes.Equal(r.Root, pinned)) {
			return nil, fmt.Errorf("roster %s#%d does not chain to the pinned root key %s", r.Party, r.Serial, Fingerprint(pinned))
		}
		prev = r
	}
	if prev == nil {
		return nil, errors.New("empty roster chain")
	}
	return prev, nil
}

func decodeRoster(raw []byte) (*Roster, error) {
	if len(raw) < ed25519.SignatureSize {
		return nil, errors.New("too short")
	}
	s := cryptobyte.String(raw[:len(raw)-ed25519.SignatureSize])
	r := &Roster{Raw: bytes.Clone(raw), Sig: bytes.Clone(raw[len(raw)-ed25519.SignatureSize:])}
	var version uint8
	var root []byte
	var nDev, nEp uint16
	if !s.ReadUint8(&version) || version != RosterVersion {
		return nil, errors.New("unknown version")
	}
	if !wire.ReadString8(&s, &r.Party) || !s.ReadUint64(&r.Serial) ||
		!s.ReadBytes(&root, ed25519.PublicKeySize) || !s.CopyBytes(r.Prev[:]) ||
		!s.ReadUint16(&nDev) || nDev > MaxDevices {
		return nil, errors.New("bad header")
	}
	r.Root = bytes.Clone(root)
	for range nDev {
		var d Device
		var key []byte
		if !wire.ReadString8(&s, &d.Name) || !s.ReadBytes(&key, ed25519.PublicKeySize) || !wire.ReadString16(&s, &d.Recipient) {
			return nil, errors.New("bad device")
		}
		d.Key = bytes.Clone(key)
		r.Devices = append(r.Devices, d)
	}
	if !s.ReadUint16(&nEp) || nEp > MaxEpochs {
		return nil, errors.New("bad epoch count")
	}
	for range nEp {
		var e Epoch
		var notAfter uint64
		if !s.ReadUint32(&e.Number) || !wire.ReadString16(&s, &e.Recipient) || !s.ReadUint64(&notAfter) || notAfter > maxNotAfter {
			return nil, errors.New("bad epoch")
		}
		e.NotAfter = time.Unix(int64(notAfter), 0).UTC()
		r.Epochs = append(r.Epochs, e)
	}
	if !s.Empty() {
		return nil, errors.New("trailing data")
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return r, nil
}

// DecodeRoster parses a signed roster's form without checking its
// signature. Use it only for rosters whose signature was checked when they
// were stored, as the relay does for the rosters it admitted.
func DecodeRoster(raw []byte) (*Roster, error) {
	r, err := decodeRoster(raw)
	if err != nil {
		return nil, fmt.Errorf("malformed roster: %w", err)
	}
	return r, nil
}
