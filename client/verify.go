package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"brieftraeger/identity"
)

// FingerprintMismatchError is returned when a party's root key as the
// relay shows it does not have the fingerprint the user was given out of
// band: a misread digit, or a relay (or someone between) showing a key of
// its own making. Nothing is pinned.
type FingerprintMismatchError struct {
	Party string
	Relay string // fingerprint of the root key the relay shows
	Given string // fingerprint the user was given
}

func (e *FingerprintMismatchError) Error() string {
	return fmt.Sprintf("the relay shows %s's root key with fingerprint %s, you were given %s: do not add it; "+
		"call %s back and compare the fingerprint digit by digit; if it still differs, someone may stand between you",
		e.Party, e.Relay, e.Given, e.Party)
}

// AddContactPin pins another party's root key given as the user received
// it: the key itself, as [Party.AddContact] does, or its fingerprint. With
// a fingerprint the root key is taken from the first version of the roster
// chain the relay shows, and pinned only if its fingerprint is the one
// given; otherwise a [*FingerprintMismatchError] is returned and nothing is
// stored.
func (p *Party) AddContactPin(ctx context.Context, party string, pin identity.Pin) (*identity.Roster, error) {
	if pin.Key != nil {
		return p.AddContact(ctx, party, pin.Key)
	}
	if err := identity.CheckName("party", party); err != nil {
		return nil, err
	}
	chain, err := p.fetchChain(ctx, party)
	if err != nil {
		return nil, err
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("the relay shows no roster for %q", party)
	}
	first, err := identity.ParseRoster(chain[0], nil)
	if err != nil {
		return nil, fmt.Errorf("roster chain of %q: %w", party, err)
	}
	if fp := identity.Fingerprint(first.Root); fp != pin.Fingerprint {
		return nil, &FingerprintMismatchError{Party: party, Relay: fp, Given: pin.Fingerprint}
	}
	return p.storeChain(ctx, party, first.Root, chain)
}

// verification is a safety number the user confirmed matched the other
// party's, as the contact file keeps it.
type verification struct {
	At           time.Time `json:"at"`
	SafetyNumber string    `json:"safety_number"`
}

// ContactInfo is what this device knows of a pinned party: its pinned root,
// its newest stored roster, and whether the user confirmed the safety
// number.
type ContactInfo struct {
	Party           string `json:"party"`
	RootKey         string `json:"root_key"`
	RootFingerprint string `json:"root_fingerprint"`
	RosterSerial    uint64 `json:"roster_serial"`
	Devices         int    `json:"devices"`
	// SafetyNumber is computed from both parties' pinned root keys and
	// names ([identity.SafetyNumber]); both sides must see the same.
	SafetyNumber string `json:"safety_number"`
	// VerifiedAt is when the user confirmed that SafetyNumber matched the
	// other side's; nil if never, or if the number confirmed then is not
	// today's.
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
	// StaleVerification is set when a confirmation is on record for
	// another safety number: the pinned keys changed since, and the
	// confirmation no longer applies.
	StaleVerification bool `json:"stale_verification,omitempty"`
}

// ContactInfo returns what this device knows of a pinned party, without
// asking the relay.
func (p *Party) ContactInfo(party string) (ContactInfo, error) {
	c, err := p.contactFile(party)
	if err != nil {
		return ContactInfo{}, err
	}
	return p.contactInfo(party, c)
}

// ContactInfos returns [Party.ContactInfo] for every pinned party, by name.
func (p *Party) ContactInfos() ([]ContactInfo, error) {
	names, err := p.Contacts()
	if err != nil {
		return nil, err
	}
	out := make([]ContactInfo, 0, len(names))
	for _, n := range names {
		ci, err := p.ContactInfo(n)
		if err != nil {
			return nil, err
		}
		out = append(out, ci)
	}
	return out, nil
}

func (p *Party) contactInfo(party string, c *contactFile) (ContactInfo, error) {
	ros, err := identity.VerifyChain(c.Root, c.Chain)
	if err != nil {
		return ContactInfo{}, fmt.Errorf("stored roster chain of %q: %w", party, err)
	}
	sn, err := p.safetyNumber(party, c.Root)
	if err != nil {
		return ContactInfo{}, err
	}
	ci := ContactInfo{Party: party, RootKey: identity.EncodePublicKey(c.Root), RootFingerprint: identity.Fingerprint(c.Root),
		RosterSerial: ros.Serial, Devices: len(ros.Devices), SafetyNumber: sn}
	if v := c.Verified; v != nil {
		if v.SafetyNumber == sn {
			at := v.At
			ci.VerifiedAt = &at
		} else {
			ci.StaleVerification = true
		}
	}
	return ci, nil
}

// safetyNumber is the safety number of this party and a contact pinned to
// root.
func (p *Party) safetyNumber(party string, root []byte) (string, error) {
	own, err := p.PinnedRoot()
	if err != nil {
		return "", err
	}
	return identity.SafetyNumber(p.Name(), own, party, root)
}

// RootOnDevice reports whether this device keeps the party's root key in
// its keystore.
func (p *Party) RootOnDevice() bool { return p.rootInKeystore() }

// PinnedRoot is this party's root key as others pin it: the root of its
// first roster version, rosters/1 (roster in a folder from before
// rosters/), whose chain Load verified. A later root rotation does not
// change it.
func (p *Party) PinnedRoot() (ed25519.PublicKey, error) {
	raw, err := os.ReadFile(filepath.Join(p.dir, "rosters", "1"))
	if errors.Is(err, os.ErrNotExist) {
		raw, err = os.ReadFile(filepath.Join(p.dir, "roster"))
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read own first roster: %w", err)
	}
	r, err := identity.DecodeRoster(raw)
	if err != nil {
		return nil, fmt.Errorf("own first roster: %w", err)
	}
	if r.Serial != 1 {
		return nil, fmt.Errorf("own first roster is serial %d, not 1", r.Serial)
	}
	return r.Root, nil
}

// ConfirmContact records, in the contact's file, that the user read the
// safety number with party aloud and every group matched: when, and the
// number. The record replaces an earlier one.
func (p *Party) ConfirmContact(party string) (ContactInfo, error) {
	unlock, err := p.lock()
	if err != nil {
		return ContactInfo{}, err
	}
	defer unlock()
	c, err := p.contactFile(party)
	if err != nil {
		return ContactInfo{}, err
	}
	sn, err := p.safetyNumber(party, c.Root)
	if err != nil {
		return ContactInfo{}, err
	}
	c.Verified = &verification{At: p.now().UTC().Truncate(time.Second), SafetyNumber: sn}
	if err := writeJSONFile(p.contactPath(party), c); err != nil {
		return ContactInfo{}, fmt.Errorf("failed to save contact: %w", err)
	}
	return p.contactInfo(party, c)
}
