package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/tlog"
)

type contactFile struct {
	Root     []byte        `json:"root"`               // pinned root key
	Chain    [][]byte      `json:"chain"`              // verified roster chain, oldest first
	Verified *verification `json:"verified,omitempty"` // the last confirmed safety number
}

// RosterForkError is returned when the relay shows a roster history for a
// party that does not extend, byte for byte, the history this device saw
// and stored before: the relay, or whoever holds the party's root key, is
// showing different histories to different viewers, or is hiding versions.
type RosterForkError struct {
	Party   string
	Serial  uint64 // first version seen before that the relay's history does not hold as it was
	Missing bool   // the relay's history ends before Serial
}

func (e *RosterForkError) Error() string {
	if e.Missing {
		return fmt.Sprintf("relay shows a roster history for %q that forks from the one seen before: it ends before serial %d", e.Party, e.Serial)
	}
	return fmt.Sprintf("relay shows a roster history for %q that forks from the one seen before at serial %d", e.Party, e.Serial)
}

// AddContact pins another party's root key, learned out of band, fetches
// that party's whole roster chain from the relay and keeps it only if it
// chains to the pinned root. Adding the same root again refreshes the
// chain, as [Party.RefreshContact] does.
func (p *Party) AddContact(ctx context.Context, party string, root ed25519.PublicKey) (*identity.Roster, error) {
	if err := identity.CheckName("party", party); err != nil {
		return nil, err
	}
	c, err := p.contactFile(party)
	switch {
	case errors.Is(err, ErrUnknownContact):
	case err != nil:
		return nil, err
	case !bytes.Equal(c.Root, root):
		return nil, fmt.Errorf("%q is already pinned to another root key (%s)", party, identity.Fingerprint(c.Root))
	}
	return p.refreshContact(ctx, party, root)
}

// RefreshContact fetches the roster chain of a pinned party from the relay,
// verifies it from the pinned root key, checks that it extends the chain
// stored before, and stores it. It returns the newest roster. A chain that
// forks from the stored one, or drops versions of it, is refused with a
// [*RosterForkError] and the stored chain is kept.
func (p *Party) RefreshContact(ctx context.Context, party string) (*identity.Roster, error) {
	c, err := p.contactFile(party)
	if err != nil {
		return nil, err
	}
	return p.refreshContact(ctx, party, c.Root)
}

func (p *Party) refreshContact(ctx context.Context, party string, root ed25519.PublicKey) (*identity.Roster, error) {
	chain, err := p.fetchChain(ctx, party)
	if err != nil {
		return nil, err
	}
	return p.storeChain(ctx, party, root, chain)
}

// fetchChain fetches a party's roster chain from the relay, unchecked.
func (p *Party) fetchChain(ctx context.Context, party string) ([][]byte, error) {
	var chain [][]byte
	err := p.getJSON(ctx, api.PathRosters+party+api.PathRosterChain, &chain)
	var re *RelayError
	if errors.As(err, &re) && re.Code == api.CodeUnknownParty {
		return nil, fmt.Errorf("the relay knows no party %q: check the name with them, and that the relay operator admitted them: %w", party, err)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to fetch roster chain of %q: %w", party, err)
	}
	return chain, nil
}

// storeChain verifies chain from root, checks that the relay logged it and
// that it extends the stored one, and stores it. For a party pinned now,
// the version pinned is where its roster changes start (rosterchanges.go).
func (p *Party) storeChain(ctx context.Context, party string, root ed25519.PublicKey, chain [][]byte) (*identity.Roster, error) {
	ros, fresh, err := p.storeChainLocked(ctx, party, root, chain)
	if err == nil && fresh {
		err = p.rosterBaseline(party, ros.Serial)
	}
	return ros, err
}

// storeChainLocked is storeChain under the folder lock; fresh says the
// party was not pinned before.
func (p *Party) storeChainLocked(ctx context.Context, party string, root ed25519.PublicKey, chain [][]byte) (ros *identity.Roster, fresh bool, err error) {
	ros, err = identity.VerifyChain(root, chain)
	if err != nil {
		return nil, false, fmt.Errorf("roster chain of %q: %w", party, err)
	}
	if ros.Party != party {
		return nil, false, fmt.Errorf("relay answered with the roster of %q for %q", ros.Party, party)
	}
	if err := p.rostersLogged(ctx, party, chain); err != nil {
		return nil, false, err
	}
	// Reading, checking and rewriting the contact file is one step for
	// every process using this folder.
	unlock, err := p.lock()
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	c, err := p.contactFile(party)
	switch {
	case errors.Is(err, ErrUnknownContact):
		c, fresh = &contactFile{Root: root}, true
	case err != nil:
		return nil, false, err
	case !bytes.Equal(c.Root, root):
		return nil, false, fmt.Errorf("%q is already pinned to another root key (%s)", party, identity.Fingerprint(c.Root))
	default:
		if err := checkExtends(party, c.Chain, chain); err != nil {
			return nil, false, err
		}
		if len(c.Chain) == len(chain) {
			return ros, false, nil // nothing new
		}
	}
	c.Chain = chain
	if err := writeJSONFile(p.contactPath(party), c); err != nil {
		return nil, false, fmt.Errorf("failed to save contact: %w", err)
	}
	return ros, fresh, nil
}

// checkExtends returns a *RosterForkError unless seen is a prefix of shown,
// byte for byte. Both are verified chains, so element i is serial i+1.
func checkExtends(party string, seen, shown [][]byte) error {
	for i, raw := range seen {
		if i >= len(shown) {
			return &RosterForkError{Party: party, Serial: uint64(i + 1), Missing: true}
		}
		if !bytes.Equal(raw, shown[i]) {
			return &RosterForkError{Party: party, Serial: uint64(i + 1)}
		}
	}
	return nil
}

// ErrUnknownContact is returned for a party whose root key is not pinned.
var ErrUnknownContact = errors.New("unknown contact")

// Contact returns the newest roster of a pinned party, verifying the stored
// chain from the pinned root key. It does not ask the relay: see
// [Party.RefreshContact].
func (p *Party) Contact(party string) (*identity.Roster, error) {
	if party == p.keys.Party {
		return p.Roster(), nil
	}
	if err := identity.CheckName("party", party); err != nil {
		return nil, err
	}
	v, err := p.memo.get(p.contactPath(party), func() (any, error) {
		c, err := p.contactFile(party)
		if err != nil {
			return nil, err
		}
		ros, err := identity.VerifyChain(c.Root, c.Chain)
		if err != nil {
			return nil, fmt.Errorf("stored roster chain of %q: %w", party, err)
		}
		if ros.Party != party {
			return nil, fmt.Errorf("stored roster chain of %q is for %q", party, ros.Party)
		}
		return ros, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*identity.Roster), nil
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
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// rosterLogWait is how long a client waits for the relay to log a roster
// version it has just admitted (the relay integrates every 50 ms).
const rosterLogWait = 5 * time.Second

// rostersLogged checks that every version of a roster chain is in the
// relay's log, with an inclusion proof against a checkpoint consistent with
// the ones this device accepted: key transparency. A relay that shows this
// device a roster it has not logged, and so could show others a different
// one, is refused.
func (p *Party) rostersLogged(ctx context.Context, party string, chain [][]byte) error {
	for _, raw := range chain {
		leaf := tlog.LeafData(tlog.KindRoster, raw)
		deadline := time.Now().Add(rosterLogWait)
		for {
			_, err := p.VerifyLogged(ctx, leaf)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrNotLogged) || time.Now().After(deadline) {
				return fmt.Errorf("roster of %q is not in the relay's log: %w", party, err)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("roster of %q is not in the relay's log: %w", party, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}
