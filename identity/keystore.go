package identity

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	"filippo.io/age"
	"golang.org/x/crypto/cryptobyte"

	"brieftraeger/internal/wire"
)

// KeystoreVersion is the layout version byte inside a sealed keystore.
const KeystoreVersion = 1

// DefaultWorkFactor is the scrypt work factor (log2 N) used to seal a
// keystore when none is given: about a second and 256 MiB per passphrase
// tried (docs/BENCHMARKS.md).
const DefaultWorkFactor = 18

// Keystore is a device's secrets: the party's root key (only on the device
// that holds it; nil elsewhere), the device's signing key and the device's
// age identity. It lives on disk only as [Keystore.Seal] output.
type Keystore struct {
	Party  string
	Device string
	Root   ed25519.PrivateKey // may be nil
	Sign   ed25519.PrivateKey
	Age    *age.HybridIdentity

	// WorkFactor is the scrypt work factor of the file OpenKeystore opened
	// (authenticated by the file's header MAC); 0 for a new keystore.
	WorkFactor int
}

// NewKeystore generates a device's keys, and a root key too if withRoot.
func NewKeystore(party, device string, withRoot bool) (*Keystore, error) {
	if err := CheckName("party", party); err != nil {
		return nil, err
	}
	if err := CheckName("device", device); err != nil {
		return nil, err
	}
	ks := &Keystore{Party: party, Device: device}
	var err error
	if withRoot {
		if _, ks.Root, err = ed25519.GenerateKey(nil); err != nil {
			return nil, fmt.Errorf("failed to generate root key: %w", err)
		}
	}
	if _, ks.Sign, err = ed25519.GenerateKey(nil); err != nil {
		return nil, fmt.Errorf("failed to generate device key: %w", err)
	}
	if ks.Age, err = age.GenerateHybridIdentity(); err != nil {
		return nil, fmt.Errorf("failed to generate device age identity: %w", err)
	}
	return ks, nil
}

// DeviceEntry returns the roster entry for this keystore's device.
func (ks *Keystore) DeviceEntry() Device {
	return Device{Name: ks.Device, Key: ks.Sign.Public().(ed25519.PublicKey), Recipient: ks.Age.Recipient().String()}
}

// Seal encodes the keystore and seals it to passphrase with age's scrypt
// recipient at the given work factor (0 means DefaultWorkFactor).
func (ks *Keystore) Seal(passphrase string, workFactor int) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint8(KeystoreVersion)
	wire.AddString8(&b, ks.Party)
	wire.AddString8(&b, ks.Device)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {
		if ks.Root != nil {
			b.AddBytes(ks.Root.Seed())
		}
	})
	b.AddBytes(ks.Sign.Seed())
	wire.AddString16(&b, ks.Age.String())
	plain, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("failed to encode keystore: %w", err)
	}
	sealed, err := sealScrypt(plain, passphrase, workFactor)
	if err != nil {
		return nil, fmt.Errorf("failed to seal keystore: %w", err)
	}
	return sealed, nil
}

// Reseal seals the keystore as Seal does, then opens the result with
// passphrase and checks that it holds the same keys: a keystore's sealed
// file is the only copy of its keys, so a replacement is proven before it
// is written.
func (ks *Keystore) Reseal(passphrase string, workFactor int) ([]byte, error) {
	sealed, err := ks.Seal(passphrase, workFactor)
	if err != nil {
		return nil, err
	}
	back, err := OpenKeystore(sealed, passphrase)
	if err != nil {
		return nil, fmt.Errorf("the resealed keystore does not open: %w", err)
	}
	if !sameKeys(back, ks) {
		return nil, errors.New("the resealed keystore holds other keys")
	}
	return sealed, nil
}

func sameKeys(a, b *Keystore) bool {
	return a.Party == b.Party && a.Device == b.Device && bytes.Equal(a.Root, b.Root) &&
		bytes.Equal(a.Sign, b.Sign) && a.Age.String() == b.Age.String()
}

// ErrWrongPassphrase is returned by OpenKeystore when the passphrase does
// not open the keystore.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// OpenKeystore opens a keystore sealed by [Keystore.Seal].
func OpenKeystore(sealed []byte, passphrase string) (*Keystore, error) {
	plain, workFactor, err := openScrypt(sealed, passphrase, 1<<16)
	if errors.Is(err, ErrWrongPassphrase) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("failed to open keystore: %w", err)
	}
	ks, err := decodeKeystore(plain)
	if err != nil {
		return nil, err
	}
	ks.WorkFactor = workFactor
	return ks, nil
}

func decodeKeystore(plain []byte) (*Keystore, error) {
	s := cryptobyte.String(plain)
	ks := &Keystore{}
	var version uint8
	var root cryptobyte.String
	var seed []byte
	var ageKey string
	if !s.ReadUint8(&version) || version != KeystoreVersion ||
		!wire.ReadString8(&s, &ks.Party) || !wire.ReadString8(&s, &ks.Device) ||
		!s.ReadUint8LengthPrefixed(&root) || !s.ReadBytes(&seed, ed25519.SeedSize) ||
		!wire.ReadString16(&s, &ageKey) || !s.Empty() {
		return nil, errors.New("failed to open keystore: malformed contents")
	}
	switch len(root) {
	case 0:
	case ed25519.SeedSize:
		ks.Root = ed25519.NewKeyFromSeed(root)
	default:
		return nil, errors.New("failed to open keystore: malformed root key")
	}
	ks.Sign = ed25519.NewKeyFromSeed(seed)
	var err error
	if ks.Age, err = age.ParseHybridIdentity(ageKey); err != nil {
		return nil, fmt.Errorf("failed to open keystore: %w", err)
	}
	return ks, nil
}
