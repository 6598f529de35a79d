package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"brieftraeger/identity"
)

// A change in a party's roster (a device added or removed, a new root key)
// is shown to the people on this side, as a messenger shows a new safety
// number: rosterchanges.json keeps, per party (this one included), the
// newest roster version whose changes were recorded, the newest the watch
// raised an alarm for, and the changes recorded lately.

const rosterChangesFile = "rosterchanges.json"

// maxRosterChanges bounds the changes kept per party.
const maxRosterChanges = 20

// RosterChange is one change of a party's roster, as first seen here.
type RosterChange struct {
	Party  string    `json:"party"`
	Serial uint64    `json:"serial"` // the roster version that made it
	What   string    `json:"what"`   // e.g. "removed device terminal-2"
	Seen   time.Time `json:"seen"`   // when this device first saw it
}

func (c RosterChange) String() string {
	return fmt.Sprintf("%s %s (roster #%d)", c.Party, c.What, c.Serial)
}

// partyRosterChanges is one party's entry in rosterchanges.json.
type partyRosterChanges struct {
	Known   uint64         `json:"known"`   // newest version whose changes are recorded
	Alarmed uint64         `json:"alarmed"` // newest version whose changes NewRosterChanges returned
	Changes []RosterChange `json:"changes,omitempty"`
}

// RefreshRosters follows the roster chains of this party and of every
// contact at the relay, as on a schedule. Their changes are then told by
// NewRosterChanges.
func (p *Party) RefreshRosters(ctx context.Context) error {
	_, err := p.RefreshRoster(ctx)
	errs := []error{err}
	contacts, err := p.Contacts()
	errs = append(errs, err)
	for _, c := range contacts {
		if _, err := p.RefreshContact(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// NewRosterChanges records the changes of this party's and the contacts'
// rosters that this folder holds, and returns those it did not return
// before: the watch raises an alarm for each. A party seen for the first
// time is taken as it is: pinning a contact is no change.
func (p *Party) NewRosterChanges() ([]RosterChange, error) {
	var out []RosterChange
	err := p.recordRosterChanges(func(c *partyRosterChanges) {
		for _, ch := range c.Changes {
			if ch.Serial > c.Alarmed {
				out = append(out, ch)
			}
		}
		c.Alarmed = c.Known
	})
	return out, err
}

// RecentRosterChanges records the changes of the rosters this folder holds
// (see NewRosterChanges) and returns, per party, those seen since the
// given time, oldest first.
func (p *Party) RecentRosterChanges(since time.Time) (map[string][]RosterChange, error) {
	if err := p.recordRosterChanges(nil); err != nil {
		return nil, err
	}
	m, err := loadChannels[partyRosterChanges](p, rosterChangesFile)
	if err != nil {
		return nil, err
	}
	out := map[string][]RosterChange{}
	for party, c := range m {
		for _, ch := range c.Changes {
			if !ch.Seen.Before(since) {
				out[party] = append(out[party], ch)
			}
		}
	}
	return out, nil
}

// recordRosterChanges records, for this party and each contact, the
// changes of the versions of its roster that this folder holds and that
// were not recorded before, then calls then (if not nil) on the party's
// entry in the same step. The chains are read only for the parties whose
// newest version (the roster in memory, a contact's verified and kept)
// has moved since: the watch asks every tick.
func (p *Party) recordRosterChanges(then func(*partyRosterChanges)) error {
	newest := map[string]uint64{p.Name(): p.Roster().Serial}
	contacts, err := p.Contacts()
	if err != nil {
		return err
	}
	for _, c := range contacts {
		ros, err := p.Contact(c)
		if err != nil {
			return err
		}
		newest[c] = ros.Serial
	}
	seen, err := loadChannels[partyRosterChanges](p, rosterChangesFile)
	if err != nil {
		return err
	}
	for party, n := range newest {
		if c := seen[party]; c != nil && c.Known == n && c.Alarmed == c.Known {
			continue // nothing to record or return: no read, no write
		}
		chain, err := p.rosterChain(party)
		if err != nil {
			return err
		}
		err = updateChannel(p, rosterChangesFile, party, func(c *partyRosterChanges) {
			p.recordChain(c, party, chain)
			if then != nil {
				then(c)
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// rosterChain returns the roster chain this folder keeps for party, this
// one or a contact, oldest first.
func (p *Party) rosterChain(party string) ([][]byte, error) {
	if party == p.Name() {
		return readOwnChain(p.dir)
	}
	f, err := p.contactFile(party)
	if err != nil {
		return nil, err
	}
	return f.Chain, nil
}

// recordChain records in c the changes of the versions of party's chain
// after c.Known.
func (p *Party) recordChain(c *partyRosterChanges, party string, chain [][]byte) {
	n := uint64(len(chain))
	if c.Known == 0 {
		c.Known, c.Alarmed = n, n
	}
	if n > c.Known {
		c.Changes = append(c.Changes, changesAfter(party, chain, c.Known, p.now())...)
		c.Known = n
		if k := len(c.Changes); k > maxRosterChanges {
			c.Changes = c.Changes[k-maxRosterChanges:]
		}
	}
}

// rosterChangedHere records the changes of this party's roster up to the
// version this device just made: status shows them, and no alarm is
// raised here for what this device did.
func (p *Party) rosterChangedHere() error {
	chain, err := readOwnChain(p.dir)
	if err != nil {
		return err
	}
	return updateChannel(p, rosterChangesFile, p.Name(), func(c *partyRosterChanges) {
		p.recordChain(c, p.Name(), chain)
		c.Alarmed = c.Known
	})
}

// rosterBaseline records serial as the version of party's roster seen
// first (a contact pinned, a folder made), if none was recorded: the
// versions after it are changes.
func (p *Party) rosterBaseline(party string, serial uint64) error {
	return updateChannel(p, rosterChangesFile, party, func(c *partyRosterChanges) {
		if c.Known == 0 {
			c.Known, c.Alarmed = serial, serial
		}
	})
}

// changesAfter lists the changes made by the versions of a verified chain
// after serial known.
func changesAfter(party string, chain [][]byte, known uint64, now time.Time) []RosterChange {
	var out []RosterChange
	for i := known; i < uint64(len(chain)); i++ {
		prev, err1 := identity.DecodeRoster(chain[i-1])
		next, err2 := identity.DecodeRoster(chain[i])
		if err1 != nil || err2 != nil {
			continue // verified when stored
		}
		for _, what := range identity.RosterChanges(prev, next) {
			out = append(out, RosterChange{Party: party, Serial: next.Serial, What: what, Seen: now})
		}
	}
	return out
}
