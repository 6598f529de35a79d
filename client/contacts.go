package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"brieftraeger/identity"
	"brieftraeger/internal/api"
)

type contactFile struct {
	Root   []byte `json:"root"`   // pinned root key
	Roster []byte `json:"roster"` // newest verified roster
}

// AddContact pins another party's root key, learned out of band, fetches
// that party's roster from the relay and keeps it only if it chains to the
// pinned root. Adding the same root again refreshes the roster.
func (p *Party) AddContact(ctx context.Context, party string, root ed25519.PublicKey) (*identity.Roster, error) {
	if err := identity.CheckName("party", party); err != nil {
		return nil, err
	}
	if c, err := p.contactFile(party); err == nil && !bytes.Equal(c.Root, root) {
		return nil, fmt.Errorf("%q is already pinned to another root key (%s)", party, identity.Fingerprint(c.Root))
	}
	raw, err := p.getBytes(ctx, api.PathRosters+party, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("failed to fetch roster of %q: %w", party, err)
	}
	ros, err := identity.VerifyChain(root, [][]byte{raw})
	if err != nil {
		return nil, fmt.Errorf("roster of %q: %w", party, err)
	}
	if ros.Party != party {
		return nil, fmt.Errorf("relay answered with the roster of %q for %q", ros.Party, party)
	}
	if err := writeJSONFile(p.contactPath(party), contactFile{Root: root, Roster: raw}); err != nil {
		return nil, fmt.Errorf("failed to save contact: %w", err)
	}
	return ros, nil
}

// ErrUnknownContact is returned for a party whose root key is not pinned.
var ErrUnknownContact = errors.New("unknown contact")

// Contact returns the verified roster of a pinned party.
func (p *Party) Contact(party string) (*identity.Roster, error) {
	if party == p.keys.Party {
		return p.roster, nil
	}
	c, err := p.contactFile(party)
	if err != nil {
		return nil, err
	}
	ros, err := identity.VerifyChain(c.Root, [][]byte{c.Roster})
	if err != nil {
		return nil, fmt.Errorf("stored roster of %q: %w", party, err)
	}
	return ros, nil
}

func (p *Party) contactPath(party string) string {
	return filepath.Join(p.dir, "contacts", party+".json")
}

func (p *Party) contactFile(party string) (*contactFile, error) {
	if err := identity.CheckName("party", party); err != nil {
		return nil, err
	}
	var c contactFile
	err := readJSONFile(p.contactPath(party), &c)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w %q (pin its root key with 'brief contact add')", ErrUnknownContact, party)
	}
	return &c, err
}
