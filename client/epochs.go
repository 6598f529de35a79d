package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"

	"brieftraeger/identity"
	"brieftraeger/internal/api"
)

// A party's epoch keys rotate: the root holder's device makes a new epoch
// (RotateEpoch; RemoveDevice makes one too), seals its secret to every
// device of the roster that will name it, puts that bundle at the relay,
// and only then gives the relay the roster. The other devices fetch the
// bundle when they follow the roster (RefreshRoster). An epoch is
// destroyed by a roster change that no longer names it: the bundle at the
// relay is erased and every device removes its epochs/N.age (forgetEpochs)
// and notes when in epochs/destroyed.json.

// DefaultKeepEpochs is how many of the newest epochs a rotation keeps
// when EpochOptions.Keep is zero: older ones are destroyed once expired.
const DefaultKeepEpochs = 3

// DefaultEpochEvery is how often a watch on a device holding the root key
// rotates the epoch, by default.
const DefaultEpochEvery = 30 * 24 * time.Hour

// EpochWarnBefore is how long before the current epoch expires a device
// that cannot rotate it warns.
const EpochWarnBefore = 7 * 24 * time.Hour

// destroyedFile records the epochs this device destroyed, and when.
const destroyedFile = "destroyed.json"

// EpochOptions tune a rotation.
type EpochOptions struct {
	Lifetime time.Duration // how long the new epoch may be sealed to; 0: DefaultEpochLifetime
	Keep     int           // keep the newest Keep epochs, destroy older expired ones; 0: DefaultKeepEpochs
	// IfOlderThan, if positive, rotates only if the current epoch is that
	// old (EpochRotationDue), as the relay's roster shows it.
	IfOlderThan time.Duration
}

func (o EpochOptions) fill() EpochOptions {
	if o.Lifetime <= 0 {
		o.Lifetime = DefaultEpochLifetime
	}
	if o.Keep <= 0 {
		o.Keep = DefaultKeepEpochs
	}
	return o
}

// EpochChange is a roster change made by RotateEpoch or DestroyEpochs.
type EpochChange struct {
	Roster    *identity.Roster
	Added     uint32   // the new epoch, 0 if none
	Destroyed []uint32 // the epochs the roster no longer names
}

// newEpoch is an epoch made for the next roster and its bundle, given to
// the relay, to keep once the relay took the roster.
type newEpoch struct {
	number uint32
	key    *age.HybridIdentity
	bundle []byte
}

// addEpoch makes epoch n (0: the one after r's newest) for the next
// roster r: its secret sealed to r's devices goes to the relay, and r
// names it from now to now+lifetime.
func (p *Party) addEpoch(ctx context.Context, r *identity.Roster, n uint32, lifetime time.Duration) (*newEpoch, error) {
	if len(r.Epochs) >= identity.MaxEpochs {
		return nil, fmt.Errorf("the roster names %d epoch keys, the most it can: destroy old ones first ('brief party epoch destroy')", len(r.Epochs))
	}
	if lifetime <= 0 {
		lifetime = DefaultEpochLifetime
	}
	key, err := identity.NewEpochKey()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		n = r.Epochs[len(r.Epochs)-1].Number + 1
	}
	bundle, err := identity.SealEpoch(key, r.Devices)
	if err != nil {
		return nil, err
	}
	resp, err := p.do(ctx, http.MethodPut, epochPath(p.Name(), n), bodyOf(bundle), int64(len(bundle)))
	if err != nil {
		return nil, fmt.Errorf("failed to give epoch %d to the relay: %w", n, err)
	}
	resp.Body.Close()
	e, err := identity.NewEpoch(n, key.Recipient().String(), p.now().Add(lifetime).Truncate(time.Second))
	if err != nil {
		return nil, err
	}
	r.Epochs = append(r.Epochs, e)
	return &newEpoch{number: n, key: key, bundle: bundle}, nil
}

func epochPath(party string, n uint32) string {
	return api.PathRosters + party + api.PathEpochs + strconv.FormatUint(uint64(n), 10)
}

// keepNewEpoch stores a new epoch's bundle as epochs/N.age once the roster
// naming it is the party's. A device that fails here fetches it later.
func (p *Party) keepNewEpoch(ne *newEpoch) error {
	if ne == nil {
		return nil
	}
	if err := writeFile(p.epochFile(ne.number), ne.bundle, 0o600); err != nil {
		return fmt.Errorf("failed to keep epoch key %d: %w", ne.number, err)
	}
	p.changeEpochKeys(func(m map[uint32]*age.HybridIdentity) { m[ne.number] = ne.key })
	return nil
}

func (p *Party) epochFile(n uint32) string {
	return filepath.Join(p.dir, "epochs", strconv.FormatUint(uint64(n), 10)+".age")
}

// RotateEpoch makes a new epoch, current from now on, and destroys the
// expired epochs older than the newest o.Keep, in one roster change. Only
// a device holding the root key can do it. With o.IfOlderThan and a
// current epoch younger than that, it changes nothing and returns a change
// with Added 0.
func (p *Party) RotateEpoch(ctx context.Context, o EpochOptions) (*EpochChange, error) {
	o = o.fill()
	var ne *newEpoch
	var dropped []uint32
	r, err := p.changeRoster(ctx, func(r *identity.Roster) error {
		if o.IfOlderThan > 0 && !rotationDue(r, p.now(), o.IfOlderThan, o.Lifetime) {
			return errNoEpochChange
		}
		next := r.Epochs[len(r.Epochs)-1].Number + 1 // numbers are never used twice
		dropped = retire(r, p.now(), o.Keep-1)
		var err error
		ne, err = p.addEpoch(ctx, r, next, o.Lifetime)
		return err
	})
	if errors.Is(err, errNoEpochChange) {
		return &EpochChange{Roster: p.Roster()}, nil
	} else if err != nil {
		return nil, err
	}
	ch := &EpochChange{Roster: r, Added: ne.number, Destroyed: dropped}
	return ch, p.finishEpochChange(ctx, ne, dropped)
}

// retire takes off r the expired epochs older than its newest keep, and
// returns their numbers.
func retire(r *identity.Roster, now time.Time, keep int) []uint32 {
	var kept []identity.Epoch
	var dropped []uint32
	for i, e := range r.Epochs {
		if i < len(r.Epochs)-keep && !now.Before(e.NotAfter) {
			dropped = append(dropped, e.Number)
		} else {
			kept = append(kept, e)
		}
	}
	r.Epochs = kept
	return dropped
}

// errNoEpochChange stops a roster change that would change nothing.
var errNoEpochChange = errors.New("no change to the epochs")

// DestroyEpochs destroys the epochs numbered, or with none given the
// expired epochs older than the newest keep (0: DefaultKeepEpochs), in one
// roster change. The current epoch (the newest unexpired) cannot be
// destroyed: rotate first. With nothing to destroy it changes nothing and
// returns a change with no Destroyed.
func (p *Party) DestroyEpochs(ctx context.Context, numbers []uint32, keep int) (*EpochChange, error) {
	if keep <= 0 {
		keep = DefaultKeepEpochs
	}
	numbers = slices.Compact(slices.Sorted(slices.Values(numbers)))
	var dropped []uint32
	r, err := p.changeRoster(ctx, func(r *identity.Roster) error {
		if len(numbers) == 0 {
			dropped = retire(r, p.now(), keep)
		} else if err := dropEpochs(r, numbers, p.now()); err != nil {
			return err
		} else {
			dropped = slices.Clone(numbers)
		}
		if len(dropped) == 0 {
			return errNoEpochChange
		}
		return nil
	})
	if errors.Is(err, errNoEpochChange) {
		return &EpochChange{Roster: p.Roster()}, nil
	} else if err != nil {
		return nil, err
	}
	return &EpochChange{Roster: r, Destroyed: dropped}, p.finishEpochChange(ctx, nil, dropped)
}

// dropEpochs takes the epochs numbered off r, refusing an epoch r does
// not name and the current one.
func dropEpochs(r *identity.Roster, numbers []uint32, now time.Time) error {
	cur, _ := r.CurrentEpoch(now)
	for _, n := range numbers {
		if r.Epoch(n) == nil {
			return fmt.Errorf("roster %d of %q names no epoch %d", r.Serial, r.Party, n)
		}
		if cur != nil && cur.Number == n {
			return fmt.Errorf("epoch %d is the current epoch of %q: rotate first ('brief party epoch rotate')", n, r.Party)
		}
	}
	r.Epochs = slices.DeleteFunc(r.Epochs, func(e identity.Epoch) bool { return slices.Contains(numbers, e.Number) })
	return nil
}

// finishEpochChange keeps a new epoch's secret and erases the destroyed
// epochs' bundles at the relay and their files here, once the relay took
// the roster. The relay erases the bundles itself when it takes the
// roster; the requests here make sure of it.
func (p *Party) finishEpochChange(ctx context.Context, ne *newEpoch, dropped []uint32) error {
	errs := []error{p.keepNewEpoch(ne)}
	for _, n := range dropped {
		resp, err := p.do(ctx, http.MethodDelete, epochPath(p.Name(), n), nil, 0)
		if err != nil {
			errs = append(errs, fmt.Errorf("failed to erase epoch %d at the relay: %w", n, err))
			continue
		}
		resp.Body.Close()
	}
	errs = append(errs, p.forgetEpochs())
	return errors.Join(errs...)
}

// syncEpochs fetches from the relay the bundles of the epochs the roster
// names that this device does not hold, and forgets those it no longer
// names. A bundle that does not open with this device's key is left
// (the device joined after it was made; its admission carried the epoch);
// one that opens to another key than the roster names is refused.
func (p *Party) syncEpochs(ctx context.Context) error {
	errs := []error{p.forgetEpochs()}
	for _, e := range p.Roster().Epochs {
		if p.epochKeys()[e.Number] != nil {
			continue
		}
		if err := p.fetchEpoch(ctx, &e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fetchEpoch fetches the bundle of epoch e, checks it and keeps it.
func (p *Party) fetchEpoch(ctx context.Context, e *identity.Epoch) error {
	bundle, err := p.getBytes(ctx, epochPath(p.Name(), e.Number), api.MaxEpochBundle)
	var re *RelayError
	if errors.As(err, &re) && re.Status == http.StatusNotFound {
		p.log.Info("the relay holds no bundle of an epoch this device lacks", "epoch", e.Number)
		return nil
	} else if err != nil {
		return fmt.Errorf("failed to fetch epoch key %d: %w", e.Number, err)
	}
	key, err := checkEpochBundle(bundle, p.keys.Age, e)
	if errors.Is(err, errNotSealedToDevice) {
		p.log.Info("the bundle of an epoch this device lacks is not sealed to it", "epoch", e.Number)
		return nil
	} else if err != nil {
		return fmt.Errorf("the relay's bundle of epoch %d of %q refused: %w", e.Number, p.Name(), err)
	}
	if err := writeFile(p.epochFile(e.Number), bundle, 0o600); err != nil {
		return fmt.Errorf("failed to keep epoch key %d: %w", e.Number, err)
	}
	p.changeEpochKeys(func(m map[uint32]*age.HybridIdentity) { m[e.Number] = key })
	return nil
}

// errNotSealedToDevice: a bundle has no stanza this device's key opens.
var errNotSealedToDevice = errors.New("the bundle is not sealed to this device")

// checkEpochBundle opens an epoch bundle with the device's identity and
// checks that it holds the key roster epoch e names.
func checkEpochBundle(bundle []byte, device *age.HybridIdentity, e *identity.Epoch) (*age.HybridIdentity, error) {
	key, err := identity.OpenEpoch(bundle, device)
	var nm *age.NoIdentityMatchError
	if errors.As(err, &nm) {
		return nil, errNotSealedToDevice
	} else if err != nil {
		return nil, err
	}
	if key.Recipient().String() != e.Recipient {
		return nil, fmt.Errorf("it holds another key than the roster names for epoch %d: the relay or a device tampered with it", e.Number)
	}
	return key, nil
}

// forgetEpochs removes the epochs/N.age files of the epochs the roster
// no longer names (destroyed), and their secrets from memory, and notes
// each in epochs/destroyed.json.
func (p *Party) forgetEpochs() error {
	dir := filepath.Join(p.dir, "epochs")
	names, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("failed to list epoch keys: %w", err)
	}
	newest := p.Roster().Epochs[len(p.Roster().Epochs)-1].Number
	gone := map[uint32]time.Time{} // when this device got each, as its file says
	for _, d := range names {
		s, ok := strings.CutSuffix(d.Name(), ".age")
		n, err := strconv.ParseUint(s, 10, 32)
		// An epoch above the newest this roster names is not dropped: another
		// process, following a newer roster, fetched it.
		if !ok || err != nil || p.Roster().Epoch(uint32(n)) != nil || uint32(n) > newest {
			continue
		}
		var since time.Time
		if fi, err := d.Info(); err == nil {
			since = fi.ModTime()
		}
		if err := os.Remove(filepath.Join(dir, d.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("failed to destroy epoch key %d: %w", n, err)
		}
		gone[uint32(n)] = since
	}
	p.changeEpochKeys(func(m map[uint32]*age.HybridIdentity) {
		for n := range m {
			if p.Roster().Epoch(n) == nil && n <= newest {
				delete(m, n)
			}
		}
	})
	if len(gone) == 0 {
		return nil
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("failed to destroy epoch keys: %w", err)
	}
	p.log.Info("epoch keys destroyed", "epochs", slices.Sorted(maps.Keys(gone)))
	return p.noteDestroyed(gone)
}

// DestroyedEpoch is an epoch this device destroyed.
type DestroyedEpoch struct {
	Number      uint32    `json:"number"`
	NotAfter    time.Time `json:"not_after,omitzero"`  // as the roster named it
	HeldSince   time.Time `json:"held_since,omitzero"` // when this device got it (its file's time)
	DestroyedAt time.Time `json:"destroyed_at"`
}

// noteDestroyed adds the epochs gone, with when this device got each, to
// epochs/destroyed.json.
func (p *Party) noteDestroyed(gone map[uint32]time.Time) error {
	unlock, err := p.lock()
	if err != nil {
		return err
	}
	defer unlock()
	list, err := p.DestroyedEpochs()
	if err != nil {
		return err
	}
	notAfter := p.epochExpiries()
	for n, since := range gone {
		if !slices.ContainsFunc(list, func(d DestroyedEpoch) bool { return d.Number == n }) {
			list = append(list, DestroyedEpoch{Number: n, NotAfter: notAfter[n], HeldSince: since.UTC(), DestroyedAt: p.now().UTC().Truncate(time.Second)})
		}
	}
	slices.SortFunc(list, func(a, b DestroyedEpoch) int { return cmp.Compare(a.Number, b.Number) })
	return writeJSONFile(filepath.Join(p.dir, "epochs", destroyedFile), list)
}

// epochExpiries returns the expiry of every epoch the party's roster chain
// in this folder named.
func (p *Party) epochExpiries() map[uint32]time.Time {
	out := map[uint32]time.Time{}
	chain, err := readOwnChain(p.dir)
	if err != nil {
		return out
	}
	for _, raw := range chain {
		if r, err := identity.DecodeRoster(raw); err == nil {
			for _, e := range r.Epochs {
				out[e.Number] = e.NotAfter
			}
		}
	}
	return out
}

// DestroyedEpochs returns the epochs this device destroyed, by number.
func (p *Party) DestroyedEpochs() ([]DestroyedEpoch, error) {
	var list []DestroyedEpoch
	err := readJSONFile(filepath.Join(p.dir, "epochs", destroyedFile), &list)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return list, err
}

// EpochDestroyedError says that a sealed copy is sealed to an epoch this
// device destroyed: it no longer opens.
type EpochDestroyedError struct {
	Number uint32
	At     time.Time
}

func (e *EpochDestroyedError) Error() string {
	return fmt.Sprintf("sealed to epoch %d, destroyed on %s: the sealed copy no longer opens", e.Number, e.At.UTC().Format(time.DateOnly))
}

// destroyedEpoch returns an *EpochDestroyedError if this device destroyed
// epoch n, or nil.
func (p *Party) destroyedEpoch(n uint32) error {
	list, _ := p.DestroyedEpochs()
	for _, d := range list {
		if d.Number == n {
			return &EpochDestroyedError{Number: n, At: d.DestroyedAt}
		}
	}
	return nil
}

// destroyedSince returns an *EpochDestroyedError for the destroyed epoch
// that a letter this device sealed at t, which no epoch it holds opens, is
// sealed to: the newest it held at t and unexpired then. Nil if none is.
func (p *Party) destroyedSince(t time.Time) error {
	list, _ := p.DestroyedEpochs()
	var hit *DestroyedEpoch
	for i, d := range list {
		if t.Before(d.HeldSince) || !d.NotAfter.IsZero() && !t.Before(d.NotAfter) {
			continue
		}
		if hit == nil || d.Number > hit.Number {
			hit = &list[i]
		}
	}
	if hit == nil {
		return nil
	}
	return &EpochDestroyedError{Number: hit.Number, At: hit.DestroyedAt}
}

// epochKeys returns the epoch secrets this device holds, by number. The
// map is never changed once returned: changeEpochKeys replaces it, so a
// letter being opened is not disturbed by a roster being followed.
func (p *Party) epochKeys() map[uint32]*age.HybridIdentity {
	p.epochMu.RLock()
	defer p.epochMu.RUnlock()
	return p.epochs
}

// changeEpochKeys applies change to a copy of the epoch secrets and puts
// the copy in their place.
func (p *Party) changeEpochKeys(change func(map[uint32]*age.HybridIdentity)) {
	p.epochMu.Lock()
	defer p.epochMu.Unlock()
	m := maps.Clone(p.epochs)
	change(m)
	p.epochs = m
}

// EpochState is one epoch of the party's roster as this device sees it.
type EpochState struct {
	Number    uint32    `json:"number"`
	Recipient string    `json:"recipient"`
	NotAfter  time.Time `json:"not_after"`
	Current   bool      `json:"current"` // the newest unexpired: letters are sealed to it
	Expired   bool      `json:"expired"`
	Held      bool      `json:"held"` // this device holds its secret
}

// Epochs lists the epochs of the party's roster this device holds.
func (p *Party) Epochs() []EpochState {
	now := p.now()
	cur, _ := p.Roster().CurrentEpoch(now)
	out := make([]EpochState, 0, len(p.Roster().Epochs))
	held := p.epochKeys()
	for _, e := range p.Roster().Epochs {
		out = append(out, EpochState{Number: e.Number, Recipient: e.Recipient, NotAfter: e.NotAfter.UTC(),
			Current: cur != nil && cur.Number == e.Number, Expired: !now.Before(e.NotAfter), Held: held[e.Number] != nil})
	}
	return out
}

// HoldsRootKey reports whether this process holds the party's root key
// (in the keystore, or taken from a root key file).
func (p *Party) HoldsRootKey() bool { return p.keys.Root != nil }

// EpochRotationDue reports whether the current epoch is every old or
// older, its age counted from its expiry less lifetime (0:
// DefaultEpochLifetime), or whether there is no unexpired epoch.
func (p *Party) EpochRotationDue(every, lifetime time.Duration) bool {
	return rotationDue(p.Roster(), p.now(), every, lifetime)
}

func rotationDue(r *identity.Roster, now time.Time, every, lifetime time.Duration) bool {
	if lifetime <= 0 {
		lifetime = DefaultEpochLifetime
	}
	cur, err := r.CurrentEpoch(now)
	if err != nil {
		return true
	}
	return !now.Before(cur.NotAfter.Add(-lifetime).Add(every))
}

// EpochExpiring returns the current epoch if it expires within d, or the
// newest epoch if none is unexpired; nil otherwise.
func (p *Party) EpochExpiring(d time.Duration) *identity.Epoch {
	cur, err := p.Roster().CurrentEpoch(p.now())
	if err != nil {
		return &p.Roster().Epochs[len(p.Roster().Epochs)-1]
	}
	if cur.NotAfter.Sub(p.now()) < d {
		return cur
	}
	return nil
}
