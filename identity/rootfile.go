package identity

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"

	"brieftraeger/internal/wire"
)

// RootFileVersion is the layout version byte inside a sealed root key file.
const RootFileVersion = 1

// A root key kept off the devices lives in a file of its own, sealed to a
// passphrase like a keystore, meant for a safe: every roster change needs
// it, day-to-day devices never hold it.

// SealRootKey seals a party's root key to passphrase with age's scrypt
// recipient at the given work factor (0 means DefaultWorkFactor).
func SealRootKey(party string, root ed25519.PrivateKey, passphrase string, workFactor int) ([]byte, error) {
	if err := CheckName("party", party); err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddUint8(RootFileVersion)
	wire.AddString8(&b, party)
	b.AddBytes(root.Seed())
	plain, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("failed to encode root key: %w", err)
	}
	return sealScrypt(plain, passphrase, workFactor)
}

// OpenRootKey opens a root key file sealed by [SealRootKey] and returns the
// party it is for and the key.
func OpenRootKey(sealed []byte, passphrase string) (string, ed25519.PrivateKey, error) {
	plain, _, err := openScrypt(sealed, passphrase, 1<<10)
	if errors.Is(err, ErrWrongPassphrase) {
		return "", nil, err
	} else if err != nil {
		return "", nil, fmt.Errorf("failed to open root key file: %w", err)
	}
	return decodeRootFile(plain)
}

// decodeRootFile parses the plaintext of a root key file.
func decodeRootFile(plain []byte) (string, ed25519.PrivateKey, error) {
	s := cryptobyte.String(plain)
	var version uint8
	var party string
	var seed []byte
	if !s.ReadUint8(&version) || version != RootFileVersion || !wire.ReadString8(&s, &party) ||
		!s.ReadBytes(&seed, ed25519.SeedSize) || !s.Empty() || CheckName("party", party) != nil {
		return "", nil, errors.New("failed to open root key file: malformed contents")
	}
	return party, ed25519.NewKeyFromSeed(seed), nil
}
