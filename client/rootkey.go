package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"brieftraeger/identity"
)

// UseRootKeyFile takes the party's root key from a root key file (see
// identity.SealRootKey) into this process's memory, for roster changes on
// a device that does not keep it. It follows the party's roster first, so
// that the key is checked against the current version: it must be the one
// that version names.
func (p *Party) UseRootKeyFile(ctx context.Context, sealed []byte, passphrase string) error {
	party, root, err := identity.OpenRootKey(sealed, passphrase)
	if err != nil {
		return err
	}
	if party != p.Name() {
		return fmt.Errorf("the root key file is for party %q, not %q", party, p.Name())
	}
	if _, err := p.RefreshRoster(ctx); err != nil {
		return err
	}
	pub := root.Public().(ed25519.PublicKey)
	if p.Roster().Root.Equal(pub) {
		p.keys.Root, p.rootFile = root, true
		return nil
	}
	chain, err := readOwnChain(p.dir)
	if err != nil {
		return err
	}
	for _, raw := range chain {
		if r, err := identity.DecodeRoster(raw); err == nil && r.Root.Equal(pub) {
			return fmt.Errorf("the root key file holds %s, the root key that roster %d of %q named, since replaced by %s (roster %d): it is a retired key, and signs nothing any more",
				identity.Fingerprint(pub), r.Serial, p.Name(), identity.Fingerprint(p.Roster().Root), p.Roster().Serial)
		}
	}
	return fmt.Errorf("the root key file holds %s, which no version of the roster of %q names: it is not this party's root key", identity.Fingerprint(pub), p.Name())
}

// rootInKeystore reports whether this device keeps the root key in its
// keystore.
func (p *Party) rootInKeystore() bool { return p.keys.Root != nil && !p.rootFile }

// RotateRootToFile replaces the party's root key (from the keystore, or
// from a root key file: UseRootKeyFile) by a new one: keep must store the
// new key (sealed in a new root key file) before anything else happens;
// then the next roster, naming the new key and signed by the old one, goes
// to the relay. If the relay does not take it, the old key stays the root
// and the new file is of no use. A keystore that held the old key forgets
// it when it is next loaded, so the new key is only in the file. Contacts
// follow the change through the chain and are told "rotated its root
// key".
func (p *Party) RotateRootToFile(ctx context.Context, keep func(ed25519.PrivateKey) error) (*identity.Roster, error) {
	if p.keys.Root == nil {
		return nil, ErrNoRootKey
	}
	// Follow the roster first: the key must still be the root, or the new
	// file would hold a key that never becomes one.
	if _, err := p.RefreshRoster(ctx); err != nil {
		return nil, err
	}
	if p.keys.Root == nil {
		return nil, ErrNoRootKey
	}
	from := p.Roster().Serial
	_, next, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("failed to generate root key: %w", err)
	}
	if err := keep(next); err != nil {
		return nil, fmt.Errorf("failed to keep the new root key: %w", err)
	}
	p.nextRoot = next
	defer func() { p.nextRoot = nil }()
	r, err := p.changeRoster(ctx, func(r *identity.Roster) error {
		r.Root = next.Public().(ed25519.PublicKey)
		return nil
	})
	if err != nil {
		var re *RelayError
		if errors.As(err, &re) && re.Status/100 == 4 {
			return nil, fmt.Errorf("%w; the root key is unchanged, and the new root key file is of no use", err)
		}
		return nil, &RotationUnknownError{From: from, Err: err}
	}
	return r, nil
}

// RotationUnknownError is a root rotation whose outcome is not known: the
// relay may have taken the new roster without its answer arriving. Until
// the party's roster shows which key is the root ('brief party device
// list'), both the old and the new root key must be kept.
type RotationUnknownError struct {
	From uint64 // the roster version the rotation followed
	Err  error
}

func (e *RotationUnknownError) Error() string {
	return fmt.Sprintf("the rotation may or may not have reached the relay (%v): keep both root key files until the roster shows which key is the root; roster %d means the old one, %d the new", e.Err, e.From, e.From+1)
}

func (e *RotationUnknownError) Unwrap() error { return e.Err }

// WriteRootKeyFile seals a party's root key to passphrase in a new root
// key file name, which must not exist, and syncs it. The passphrase and
// work factor meet the keystore's floors (allowWeak: for tests only, as
// InitOptions.AllowWeakWorkFactor).
func WriteRootKeyFile(name, party string, root ed25519.PrivateKey, passphrase string, workFactor int, allowWeak bool) error {
	if err := checkSealing(passphrase, workFactor, allowWeak); err != nil {
		return fmt.Errorf("root key passphrase: %w", err)
	}
	return writeRootFile(name, party, root, passphrase, workFactor)
}

// writeRootFile seals a party's root key in a new root key file name,
// which must not exist, and syncs it.
func writeRootFile(name, party string, root ed25519.PrivateKey, passphrase string, workFactor int) error {
	sealed, err := identity.SealRootKey(party, root, passphrase, workFactor)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return fmt.Errorf("failed to write the root key file: %w", err)
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("failed to write the root key file: %w", err)
	}
	_, err = f.Write(sealed)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("failed to write the root key file: %w", err)
	}
	return syncDir(filepath.Dir(name))
}

// forgetStaleRoot handles a keystore holding a root key that the party's
// roster no longer names (it was rotated, perhaps by this device): the
// keystore is sealed again without it, under the same passphrase and work
// factor, so that no copy of a retired key lingers.
func (p *Party) forgetStaleRoot(passphrase string) error {
	if p.keys.Root == nil || p.Roster().Root.Equal(p.keys.Root.Public()) {
		return nil
	}
	unlock, err := p.lock()
	if err != nil {
		return err
	}
	defer unlock()
	name := filepath.Join(p.dir, "keys.age")
	sealed, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("failed to read keystore: %w", err)
	}
	ks, err := identity.OpenKeystore(sealed, passphrase)
	if err != nil {
		return err
	}
	if ks.Root != nil && !p.Roster().Root.Equal(ks.Root.Public()) {
		ks.Root = nil
		resealed, err := ks.Reseal(passphrase, ks.WorkFactor)
		if err != nil {
			return err
		}
		if err := writeFile(name, resealed, 0o600); err != nil {
			return fmt.Errorf("failed to write keys.age: %w", err)
		}
		p.log.Info("the keystore forgot a root key the roster no longer names", "roster", p.Roster().Serial)
	}
	p.keys.Root = nil
	return nil
}
