package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"brieftraeger/identity"
	"brieftraeger/internal/api"
)

// Admission is what a holder of the root key gives a new device, by hand:
// the roster that names it and the party's epoch secrets sealed to it
// alone. The new device trusts none of it as it stands (FinishJoin).
type Admission struct {
	Party  string            `json:"party"`
	Device string            `json:"device"`
	Roster []byte            `json:"roster"`
	Epochs map[string][]byte `json:"epochs"` // epoch number -> age file sealed to the device

	// Again is set when the roster named the device already and the
	// admission was made again, with no roster change.
	Again bool `json:"-"`
}

// ErrNoRootKey is returned for a roster change on a device that does not
// hold the party's root key.
var ErrNoRootKey = errors.New("this device does not hold the party's root key")

// AddDevice admits the device whose signed join request is raw: it signs
// the next roster with the device appended, gives it to the relay, keeps
// it, and returns the admission to carry to the new device. Only a device
// holding the party's root key can do it.
func (p *Party) AddDevice(ctx context.Context, raw []byte) (*Admission, error) {
	jr, err := identity.ParseJoinRequest(raw)
	if err != nil {
		return nil, err
	}
	if jr.Party != p.Name() {
		return nil, fmt.Errorf("the join request is for party %q, not %q", jr.Party, p.Name())
	}
	if ad, err := p.admissionAgain(jr); ad != nil || err != nil {
		return ad, err
	}
	ad := &Admission{Party: p.Name(), Device: jr.Device.Name}
	next, err := p.changeRoster(ctx, func(r *identity.Roster) error {
		if err := p.checkNewDeviceName(jr.Device.Name); err != nil {
			return err
		}
		// Sealed after changeRoster followed the roster and fetched its
		// epoch keys: the admission holds every one the roster names.
		if ad.Epochs, err = p.sealEpochsTo(r, jr.Device); err != nil {
			return err
		}
		r.Devices = append(r.Devices, jr.Device)
		return nil
	})
	if err != nil {
		return nil, err
	}
	ad.Roster = next.Raw
	return ad, nil
}

// admissionAgain makes the admission of a device the roster names already
// with the join request's keys: an admission lost or damaged on its way is
// made again, with no roster change. It returns nil for a device the
// roster does not name so.
func (p *Party) admissionAgain(jr *identity.JoinRequest) (*Admission, error) {
	d := p.Roster().Device(jr.Device.Name)
	if d == nil || !d.Key.Equal(jr.Device.Key) || d.Recipient != jr.Device.Recipient {
		return nil, nil
	}
	if p.keys.Root == nil {
		return nil, ErrNoRootKey
	}
	epochs, err := p.sealEpochsTo(p.Roster(), jr.Device)
	if err != nil {
		return nil, err
	}
	return &Admission{Party: p.Name(), Device: jr.Device.Name, Roster: p.Roster().Raw, Epochs: epochs, Again: true}, nil
}

// sealEpochsTo seals every epoch secret that r names to device d alone. It
// refuses if this device lacks the current one: the new device could not
// open the letters sent to the party.
func (p *Party) sealEpochsTo(r *identity.Roster, d identity.Device) (map[string][]byte, error) {
	keys := p.epochKeys()
	if cur, err := r.CurrentEpoch(p.now()); err != nil {
		return nil, err
	} else if keys[cur.Number] == nil {
		return nil, fmt.Errorf("this device does not hold epoch key %d, the party's current one: follow the roster ('brief party device list') and try again", cur.Number)
	}
	out := map[string][]byte{}
	for _, e := range r.Epochs {
		id := keys[e.Number]
		if id == nil {
			continue // expired and never held here
		}
		sealed, err := identity.SealEpoch(id, []identity.Device{d})
		if err != nil {
			return nil, err
		}
		out[strconv.FormatUint(uint64(e.Number), 10)] = sealed
	}
	return out, nil
}

// checkNewDeviceName refuses a device name that any version of the party's
// roster named: the other parties number a device's letters by its name,
// so a new device under an old name would have its letters refused as
// replays.
func (p *Party) checkNewDeviceName(name string) error {
	chain, err := readOwnChain(p.dir)
	if err != nil {
		return err
	}
	for i := len(chain) - 1; i >= 0; i-- {
		r, err := identity.DecodeRoster(chain[i])
		if err != nil {
			return err
		}
		if r.Device(name) == nil {
			continue
		}
		if i == len(chain)-1 {
			return fmt.Errorf("the roster already names a device %q", name)
		}
		return fmt.Errorf("roster %d of %q named a device %q, since removed: a device name is never used twice; choose another", r.Serial, p.Name(), name)
	}
	return nil
}

// RemoveDevice takes the named device off the party's roster and gives the
// new roster to the relay, which refuses the device from then on. The same
// roster names a new epoch, sealed only to the devices that remain, so the
// removed device gets no later epoch. This
// device, and the last device, cannot be removed.
func (p *Party) RemoveDevice(ctx context.Context, name string) (*identity.Roster, error) {
	if name == p.Device() {
		return nil, fmt.Errorf("device %q is this device: remove it from another device that holds the root key", name)
	}
	var ne *newEpoch
	r, err := p.changeRoster(ctx, func(r *identity.Roster) error {
		if r.Device(name) == nil { // r follows the relay's newest version
			return fmt.Errorf("the roster of %q names no device %q", p.Name(), name)
		}
		r.Devices = slices.DeleteFunc(r.Devices, func(d identity.Device) bool { return d.Name == name })
		var err error
		ne, err = p.addEpoch(ctx, r, 0, 0) // sealed to the devices that remain
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, p.keepNewEpoch(ne)
}

// changeRoster makes the next version of the party's roster with change,
// signs it with the root key, gives it to the relay and keeps it, under
// the folder's roster lock (locks/roster). The relay must take it first:
// a version only this device held would fork the party's history.
func (p *Party) changeRoster(ctx context.Context, change func(*identity.Roster) error) (*identity.Roster, error) {
	if p.keys.Root == nil {
		return nil, ErrNoRootKey
	}
	// One change at a time from this folder (a watch rotating the epoch,
	// a clerk removing a device): each follows the roster the other made.
	unlock, err := p.fileLock(ctx, "roster", "roster lock")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := p.RefreshRoster(ctx); err != nil {
		return nil, err
	}
	if p.keys.Root == nil { // another device rotated the root key
		return nil, ErrNoRootKey
	}
	cur := p.Roster()
	next := &identity.Roster{Party: cur.Party, Serial: cur.Serial + 1, Root: cur.Root, Prev: cur.Hash(),
		Devices: slices.Clone(cur.Devices), Epochs: slices.Clone(cur.Epochs)}
	if err := change(next); err != nil {
		return nil, err
	}
	if err := next.Sign(p.keys.Root); err != nil {
		return nil, err
	}
	resp, err := p.do(ctx, http.MethodPut, api.PathRosters+p.Name(), bodyOf(next.Raw), int64(len(next.Raw)))
	if err != nil {
		return nil, fmt.Errorf("failed to give the new roster to the relay: %w", err)
	}
	resp.Body.Close()
	if err := p.keepRoster(next); err != nil {
		return nil, err
	}
	if err := p.rosterChangedHere(); err != nil {
		return nil, err
	}
	return next, nil
}

// RefreshRoster fetches the party's own roster chain from the relay and
// keeps its newest version if it follows the one this device holds, then
// fetches the epoch keys it names that this device lacks and destroys
// those it no longer names (syncEpochs). It returns the roster this device
// holds afterwards, with any error of syncEpochs. A device that the new
// roster no longer names gets ErrDeviceRemoved, and keeps its old roster.
func (p *Party) RefreshRoster(ctx context.Context) (*identity.Roster, error) {
	var chain [][]byte
	if err := p.getJSON(ctx, api.PathRosters+p.Name()+api.PathRosterChain, &chain); err != nil {
		return nil, fmt.Errorf("failed to fetch the roster chain of %q: %w", p.Name(), err)
	}
	newest, err := followOwnChain(p.Roster(), chain)
	if err != nil {
		return nil, err
	}
	if newest != p.Roster() {
		d := newest.Device(p.Device())
		if own := p.keys.DeviceEntry(); d == nil || !d.Key.Equal(own.Key) || d.Recipient != own.Recipient {
			return nil, fmt.Errorf("%w: roster %d of %q no longer names %q with this device's keys", ErrDeviceRemoved, newest.Serial, p.Name(), p.Device())
		}
		if err := p.keepRosters(chain[p.Roster().Serial:newest.Serial], newest); err != nil {
			return nil, err
		}
	}
	return newest, p.syncEpochs(ctx)
}

// ErrDeviceRemoved is returned when the party's roster no longer names this
// device.
var ErrDeviceRemoved = errors.New("this device was removed from the party's roster")

// followOwnChain returns the newest roster of chain if chain holds cur,
// byte for byte, and each later version follows the one before; cur itself
// if chain holds nothing newer.
func followOwnChain(cur *identity.Roster, chain [][]byte) (*identity.Roster, error) {
	at := int(cur.Serial) - 1
	if at < 0 || at >= len(chain) || string(chain[at]) != string(cur.Raw) {
		return nil, fmt.Errorf("the relay shows a roster history for %q that does not hold this device's roster %d", cur.Party, cur.Serial)
	}
	newest := cur
	for _, raw := range chain[at+1:] {
		r, err := identity.ParseRoster(raw, newest)
		if err != nil {
			return nil, fmt.Errorf("roster chain of %q: %w", cur.Party, err)
		}
		newest = r
	}
	return newest, nil
}

// keepRoster stores r, which follows the party's roster in this folder,
// as its newest version.
func (p *Party) keepRoster(r *identity.Roster) error {
	return p.keepRosters([][]byte{r.Raw}, r)
}

// keepRosters stores the versions that follow the party's roster in this
// folder, oldest first, of which newest is the last: every one of them,
// so that rosters/ holds the chain without a gap.
func (p *Party) keepRosters(versions [][]byte, newest *identity.Roster) error {
	if err := writeRosterFiles(p.dir, versions, newest.Serial); err != nil {
		return err
	}
	p.rosterNow.Store(newest)
	p.dropStaleRoot()
	return nil
}

// dropStaleRoot forgets a root key the party's roster no longer names:
// another device rotated it. The device goes on as a device. A rotation
// this device is making takes its new key instead (nextRoot).
func (p *Party) dropStaleRoot() {
	if p.nextRoot != nil && p.Roster().Root.Equal(p.nextRoot.Public()) {
		p.keys.Root, p.rootFile, p.nextRoot = p.nextRoot, true, nil
		return
	}
	if p.keys.Root != nil && !p.Roster().Root.Equal(p.keys.Root.Public()) {
		p.log.Warn("the root key this device holds is no longer the party's root: it was rotated", "roster", p.Roster().Serial)
		p.keys.Root = nil
	}
}
