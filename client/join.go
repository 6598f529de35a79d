package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/internal/tlspin"
)

// A device joins its party in two steps. StartJoin makes its keys in a
// folder that is not yet a party folder (join.age, the keystore; the join
// request to carry to a holder of the root key; join.json). FinishJoin
// takes the admission that comes back, checks it against the relay, and
// makes the folder a party folder by writing keys.age last.

const (
	joinKeysFile    = "join.age"
	joinRequestFile = "join-request"
	joinStateFile   = "join.json"
)

// JoinOptions describe a new device of an existing party.
type JoinOptions struct {
	Dir, Party, Device string
	Passphrase         string
	WorkFactor         int // scrypt log2 N for the keystore; 0 means identity.DefaultWorkFactor
	// AllowWeakWorkFactor lets work factors 10 to 13 through: for tests
	// only, as InitOptions.AllowWeakWorkFactor.
	AllowWeakWorkFactor bool
	Relay               api.Descriptor
	// RootFingerprint, if set, is the party's root key fingerprint (or the
	// key itself) as learned from a trusted device, in any form
	// identity.ParsePin takes; FinishJoin refuses a chain from another root.
	RootFingerprint string
}

// joinState is join.json: what FinishJoin checks the chain against.
type joinState struct {
	RootFingerprint string `json:"root_fingerprint,omitempty"`
}

// ErrJoinPending is returned by Load for a folder whose device has asked
// to join its party and waits for its admission.
var ErrJoinPending = errors.New("this device waits for its admission to the party")

// StartJoin makes a new device's keys in o.Dir and returns the signed join
// request, also written to the folder's join-request file. It refuses a
// passphrase or work factor below the floors, as Init does.
func StartJoin(o JoinOptions) (*identity.JoinRequest, error) {
	if err := checkSealing(o.Passphrase, o.WorkFactor, o.AllowWeakWorkFactor); err != nil {
		return nil, err
	}
	if err := checkDescriptor(o.Relay); err != nil {
		return nil, err
	}
	for _, f := range []string{"keys.age", joinKeysFile} {
		if _, err := os.Stat(filepath.Join(o.Dir, f)); err == nil {
			return nil, fmt.Errorf("%s already holds a device (%s)", o.Dir, f)
		}
	}
	if o.RootFingerprint != "" {
		pin, err := identity.ParsePin(o.RootFingerprint)
		if err != nil {
			return nil, fmt.Errorf("root fingerprint: %w", err)
		}
		o.RootFingerprint = pin.Fingerprint
		if pin.Key != nil {
			o.RootFingerprint = identity.Fingerprint(pin.Key)
		}
	}
	ks, err := identity.NewKeystore(o.Party, o.Device, false)
	if err != nil {
		return nil, err
	}
	jr, err := identity.SignJoinRequest(ks)
	if err != nil {
		return nil, err
	}
	sealed, err := ks.Seal(o.Passphrase, o.WorkFactor)
	if err != nil {
		return nil, err
	}
	if err := writeJSONFile(filepath.Join(o.Dir, "relay.json"), o.Relay); err != nil {
		return nil, fmt.Errorf("failed to write relay.json: %w", err)
	}
	if err := writeJSONFile(filepath.Join(o.Dir, joinStateFile), joinState{RootFingerprint: o.RootFingerprint}); err != nil {
		return nil, fmt.Errorf("failed to write %s: %w", joinStateFile, err)
	}
	if err := writeFile(filepath.Join(o.Dir, joinRequestFile), jr.Raw, 0o644); err != nil {
		return nil, fmt.Errorf("failed to write the join request: %w", err)
	}
	if err := writeFile(filepath.Join(o.Dir, joinKeysFile), sealed, 0o600); err != nil {
		return nil, fmt.Errorf("failed to write the keystore: %w", err)
	}
	return jr, nil
}

// FinishJoin completes the join of the device in dir with the admission
// (JSON) that a holder of the root key made for it, and opens the folder
// as a party folder. It trusts nothing in the admission as it stands: the
// roster must be in the party's chain at the relay, verified from its
// first root (the expected fingerprint, when given at StartJoin); the
// newest version must name this device with its own keys; each epoch
// secret must open and match its epoch on the roster (one the roster no
// longer names is passed over). On an error of these checks the folder is
// left as it was.
func FinishJoin(ctx context.Context, dir, passphrase string, admission []byte, opts Options) (*Party, error) {
	opts = opts.fill()
	sealed, err := os.ReadFile(filepath.Join(dir, joinKeysFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s has no device waiting to join (no %s)", dir, joinKeysFile)
	} else if err != nil {
		return nil, err
	}
	ks, err := identity.OpenKeystore(sealed, passphrase)
	if err != nil {
		return nil, err
	}
	var ad Admission
	if err := json.Unmarshal(admission, &ad); err != nil {
		return nil, fmt.Errorf("malformed admission: %w", err)
	}
	if ad.Party != ks.Party || ad.Device != ks.Device {
		return nil, fmt.Errorf("the admission is for %s/%s, but this device is %s/%s", ad.Party, ad.Device, ks.Party, ks.Device)
	}
	var st joinState
	if err := readJSONFile(filepath.Join(dir, joinStateFile), &st); err != nil {
		return nil, err
	}
	p := &Party{dir: dir, keys: ks, now: opts.Now, log: opts.Logger}
	if err := readJSONFile(filepath.Join(dir, "relay.json"), &p.relay); err != nil {
		return nil, err
	}
	tlsConf, err := tlspin.ClientTLSConfig(ks.Sign, p.relay.TLSSHA256)
	if err != nil {
		return nil, err
	}
	p.nodes = newRelayNodes(p.relay, tlsConf, p.log)
	defer p.nodes.http.CloseIdleConnections()
	var chain [][]byte
	if err := p.getJSON(ctx, api.PathRosters+ks.Party+api.PathRosterChain, &chain); err != nil {
		return nil, fmt.Errorf("failed to fetch the roster chain of %q: %w", ks.Party, err)
	}
	ros, err := checkAdmission(ks, &ad, chain, st.RootFingerprint)
	if err != nil {
		return nil, err
	}
	for n, sealed := range ad.Epochs {
		num, _ := strconv.ParseUint(n, 10, 32) // checked by checkAdmission
		if err := writeFile(filepath.Join(dir, "epochs", n+".age"), sealed, 0o600); err != nil {
			return nil, fmt.Errorf("failed to write epoch key %d: %w", num, err)
		}
	}
	if err := writeRosterFiles(dir, chain, ros.Serial); err != nil {
		return nil, err
	}
	if err := os.Rename(filepath.Join(dir, joinKeysFile), filepath.Join(dir, "keys.age")); err != nil {
		return nil, fmt.Errorf("failed to make the folder a party folder: %w", err)
	}
	os.Remove(filepath.Join(dir, joinStateFile))
	np, err := Load(dir, passphrase, opts)
	if err != nil {
		return nil, err
	}
	if err := np.rosterBaseline(ks.Party, ros.Serial); err != nil {
		np.Close()
		return nil, err
	}
	// Epoch keys made since the admission are fetched now; the device is
	// a party device already, so a failure here is for later.
	if _, err := np.RefreshRoster(ctx); err != nil {
		np.log.Warn("failed to follow the roster after joining; the next command will", "err", err)
	}
	return np, nil
}

// checkAdmission checks an admission against the party's chain as the
// relay shows it, and returns the chain's newest roster.
func checkAdmission(ks *identity.Keystore, ad *Admission, chain [][]byte, fingerprint string) (*identity.Roster, error) {
	if len(chain) == 0 {
		return nil, fmt.Errorf("the relay shows no roster for %q", ks.Party)
	}
	first, err := identity.DecodeRoster(chain[0])
	if err != nil {
		return nil, fmt.Errorf("roster chain of %q: %w", ks.Party, err)
	}
	if got := identity.Fingerprint(first.Root); fingerprint != "" && got != fingerprint {
		return nil, fmt.Errorf("the relay shows %q under the root key %s, not %s as expected: do not use it", ks.Party, got, fingerprint)
	}
	ros, err := identity.VerifyChain(first.Root, chain)
	if err != nil {
		return nil, fmt.Errorf("roster chain of %q: %w", ks.Party, err)
	}
	adm, err := identity.DecodeRoster(ad.Roster)
	if err != nil {
		return nil, fmt.Errorf("admission: %w", err)
	}
	if adm.Serial == 0 || adm.Serial > uint64(len(chain)) || string(chain[adm.Serial-1]) != string(ad.Roster) {
		return nil, fmt.Errorf("the relay does not hold the admission's roster %d of %q: it was not given to the relay, or the relay shows another history", adm.Serial, ks.Party)
	}
	d := ros.Device(ks.Device)
	if d == nil {
		return nil, fmt.Errorf("roster %d of %q does not name %q: the device was removed since its admission", ros.Serial, ks.Party, ks.Device)
	}
	if own := ks.DeviceEntry(); !d.Key.Equal(own.Key) || d.Recipient != own.Recipient {
		return nil, fmt.Errorf("roster %d of %q names a device %q with other keys than this device's", ros.Serial, ks.Party, ks.Device)
	}
	if len(ad.Epochs) == 0 {
		return nil, errors.New("the admission holds no epoch key")
	}
	for n, sealed := range ad.Epochs {
		num, err := strconv.ParseUint(n, 10, 32)
		if err != nil || strconv.FormatUint(num, 10) != n {
			return nil, fmt.Errorf("admission: bad epoch number %q", n)
		}
		e := ros.Epoch(uint32(num))
		if e == nil {
			delete(ad.Epochs, n) // destroyed since the admission was made
			continue
		}
		id, err := identity.OpenEpoch(sealed, ks.Age)
		if err != nil {
			return nil, fmt.Errorf("admission: epoch %d: %w", num, err)
		}
		if id.Recipient().String() != e.Recipient {
			return nil, fmt.Errorf("admission: epoch %d is not the key roster %d names", num, ros.Serial)
		}
	}
	return ros, nil
}
