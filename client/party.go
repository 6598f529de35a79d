package client

import (
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"

	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/internal/tlspin"
)

// DefaultEpochLifetime is how long a new epoch key may be sealed to when
// InitOptions.EpochLifetime is zero.
const DefaultEpochLifetime = 90 * 24 * time.Hour

// Party is one device's view of its party: its keys, roster, relay, and
// local records (records.db, shared by every process using the folder).
type Party struct {
	dir        string
	keys       *identity.Keystore
	rosterNow  atomic.Pointer[identity.Roster] // the party's roster, replaced whole when the device follows a new version
	relay      api.Descriptor
	relayKey   ed25519.PublicKey
	epochs     map[uint32]*age.HybridIdentity // opened epoch secrets by number; after Load, replaced whole (epochKeys)
	epochMu    sync.RWMutex                   // guards epochs
	rootFile   bool                           // the root key in keys came from a root key file (rootkey.go)
	nextRoot   ed25519.PrivateKey             // the new root key of a rotation this process is making
	db         *sql.DB                        // records.db (records.go)
	durable    *sql.DB                        // records.db, each commit fsynced
	writing    sync.Mutex                     // held by this process's transaction of records.db (commit.go)
	group      groupCommit                    // durable work waiting for a commit
	posting    sync.Map                       // party -> chan struct{}: this process's turn at the channel's post lock
	sealing    sync.Map                       // sealingKey -> struct{}: the numbers this process is sealing (sealing.go)
	sealedHere signal                         // broadcast when this process stops sealing a number
	memo       fileMemo                       // verified contacts and the accepted checkpoint, while their files are unchanged
	nodes      *relayNodes
	now        func() time.Time
	log        *slog.Logger
}

// Options are the injected dependencies of a Party. The zero value uses
// the system clock and discards logs.
type Options struct {
	Now    func() time.Time
	Logger *slog.Logger
}

func (o Options) fill() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// InitOptions describe a new party folder.
type InitOptions struct {
	Dir, Party, Device string
	Passphrase         string
	WorkFactor         int           // scrypt log2 N for the keystore; 0 means identity.DefaultWorkFactor
	EpochLifetime      time.Duration // 0 means DefaultEpochLifetime
	Relay              api.Descriptor

	// RootOut, if set, keeps the root key off the device: it is sealed
	// to RootPassphrase (same floors, same work factor) in a root key file
	// written there, meant for a safe, and the keystore holds no root
	// key. Every roster change then needs that file (UseRootKeyFile). The
	// file must not exist.
	RootOut, RootPassphrase string

	// AllowWeakWorkFactor lets work factors 10 to 13 through, below
	// identity.MinWorkFactor: for tests only, where each scrypt must take
	// milliseconds. A keystore sealed so is cheap to guess the passphrase
	// of; never set it for a real device.
	AllowWeakWorkFactor bool
}

// Init creates a party folder: a root key and a first device in a sealed
// keystore, the first roster, and the first epoch key sealed to the device.
// It refuses a folder that already holds a party, and a passphrase or work
// factor below the floors (identity.CheckPassphrase, identity.CheckWorkFactor).
func Init(o InitOptions, opts Options) (p *Party, err error) {
	opts = opts.fill()
	if err := checkSealing(o.Passphrase, o.WorkFactor, o.AllowWeakWorkFactor); err != nil {
		return nil, err
	}
	if err := checkDescriptor(o.Relay); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(o.Dir, "keys.age")); err == nil {
		return nil, fmt.Errorf("a party already exists in %s", o.Dir)
	}
	if o.RootOut != "" {
		if err := checkSealing(o.RootPassphrase, o.WorkFactor, o.AllowWeakWorkFactor); err != nil {
			return nil, fmt.Errorf("root key passphrase: %w", err)
		}
		if _, err := os.Stat(o.RootOut); err == nil {
			return nil, fmt.Errorf("%s already exists: give a new file for the root key", o.RootOut)
		}
	}
	ks, err := identity.NewKeystore(o.Party, o.Device, true)
	if err != nil {
		return nil, err
	}
	epoch, err := identity.NewEpochKey()
	if err != nil {
		return nil, err
	}
	if o.EpochLifetime == 0 {
		o.EpochLifetime = DefaultEpochLifetime
	}
	ros := &identity.Roster{
		Party: o.Party, Serial: 1, Root: ks.Root.Public().(ed25519.PublicKey),
		Devices: []identity.Device{ks.DeviceEntry()},
		Epochs:  []identity.Epoch{{Number: 1, Recipient: epoch.Recipient().String(), NotAfter: opts.Now().Add(o.EpochLifetime).Truncate(time.Second)}},
	}
	if err := ros.Sign(ks.Root); err != nil {
		return nil, err
	}
	if o.RootOut != "" {
		if err := writeRootFile(o.RootOut, o.Party, ks.Root, o.RootPassphrase, o.WorkFactor); err != nil {
			return nil, err
		}
		defer func() {
			// A root key file for a party that was not made goes; once
			// keys.age is written the party exists, and the file is its
			// only root key.
			if _, serr := os.Stat(filepath.Join(o.Dir, "keys.age")); err != nil && serr != nil {
				os.Remove(o.RootOut)
			}
		}()
		ks.Root = nil
	}
	sealedKeys, err := ks.Seal(o.Passphrase, o.WorkFactor)
	if err != nil {
		return nil, err
	}
	sealedEpoch, err := identity.SealEpoch(epoch, ros.Devices)
	if err != nil {
		return nil, err
	}
	files := []struct {
		name string
		data []byte
	}{
		{filepath.Join("epochs", "1.age"), sealedEpoch},
		{filepath.Join("rosters", "1"), ros.Raw},
		{"roster", ros.Raw},
		{"keys.age", sealedKeys}, // last: its presence marks a complete folder
	}
	if err := writeJSONFile(filepath.Join(o.Dir, "relay.json"), o.Relay); err != nil {
		return nil, fmt.Errorf("failed to write relay.json: %w", err)
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(o.Dir, f.name), f.data, 0o600); err != nil {
			return nil, fmt.Errorf("failed to write %s: %w", f.name, err)
		}
	}
	if p, err = Load(o.Dir, o.Passphrase, opts); err != nil {
		return nil, err
	}
	if err := p.rosterBaseline(o.Party, ros.Serial); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func checkDescriptor(d api.Descriptor) error {
	for _, u := range append([]string{d.URL}, d.URLs...) {
		if u == "" || !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("relay address %q must be an https:// URL", u)
		}
	}
	if len(d.TLSSHA256) != 64 {
		return errors.New("relay descriptor has no TLS certificate fingerprint")
	}
	if _, err := identity.ParsePublicKey(d.ReceiptKey); err != nil {
		return fmt.Errorf("relay descriptor: receipt key: %w", err)
	}
	return nil
}

// ErrNoParty is returned by Load for a folder without a party.
var ErrNoParty = errors.New("no party in this folder")

// Load opens a party folder with the keystore passphrase.
func Load(dir, passphrase string, opts Options) (*Party, error) {
	opts = opts.fill()
	sealed, err := os.ReadFile(filepath.Join(dir, "keys.age"))
	if errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(dir, joinKeysFile)); err == nil {
			return nil, ErrJoinPending
		}
		return nil, ErrNoParty
	} else if err != nil {
		return nil, fmt.Errorf("failed to read keystore: %w", err)
	}
	ks, err := identity.OpenKeystore(sealed, passphrase)
	if err != nil {
		return nil, err
	}
	p := &Party{dir: dir, keys: ks, now: opts.Now, log: opts.Logger}
	for _, sub := range []string{"tmp", "sent", "archive", "locks"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("failed to make the party folder's %s: %w", sub, err)
		}
	}
	if err := p.sweepTmp(); err != nil {
		p.log.Warn("failed to clear tmp/ of interrupted operations", "err", err)
	}
	ros, err := loadOwnRoster(dir)
	if err != nil {
		return nil, err
	}
	p.rosterNow.Store(ros)
	if err := p.forgetStaleRoot(passphrase); err != nil {
		return nil, err
	}
	if err := readJSONFile(filepath.Join(dir, "relay.json"), &p.relay); err != nil {
		return nil, err
	}
	if err := checkDescriptor(p.relay); err != nil {
		return nil, err
	}
	p.relayKey, _ = identity.ParsePublicKey(p.relay.ReceiptKey)
	if err := p.openEpochs(); err != nil {
		return nil, err
	}
	tlsConf, err := tlspin.ClientTLSConfig(ks.Sign, p.relay.TLSSHA256)
	if err != nil {
		return nil, err
	}
	p.nodes = newRelayNodes(p.relay, tlsConf, p.log)
	if p.db, err = openRecords(dir, false); err != nil {
		return nil, err
	}
	if p.durable, err = openRecords(dir, true); err != nil {
		p.db.Close()
		return nil, err
	}
	if err := p.migrate(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Party) openEpochs() error {
	p.epochs = map[uint32]*age.HybridIdentity{}
	for _, e := range p.Roster().Epochs {
		sealed, err := os.ReadFile(filepath.Join(p.dir, "epochs", strconv.Itoa(int(e.Number))+".age"))
		if errors.Is(err, os.ErrNotExist) {
			continue // destroyed, or never held by this device
		} else if err != nil {
			return fmt.Errorf("failed to read epoch key %d: %w", e.Number, err)
		}
		id, err := identity.OpenEpoch(sealed, p.keys.Age)
		if err != nil {
			return fmt.Errorf("epoch key %d: %w", e.Number, err)
		}
		p.epochs[e.Number] = id
	}
	return p.forgetEpochs()
}

// Name returns the party's name.
func (p *Party) Name() string { return p.keys.Party }

// Device returns this device's name.
func (p *Party) Device() string { return p.keys.Device }

// KeystoreWorkFactor returns the scrypt work factor keys.age was sealed
// with when this Party opened it.
func (p *Party) KeystoreWorkFactor() int { return p.keys.WorkFactor }

// Roster returns the party's current roster.
func (p *Party) Roster() *identity.Roster { return p.rosterNow.Load() }

// Dir returns the party folder.
func (p *Party) Dir() string { return p.dir }

// Close releases idle connections to the relay and closes the records
// database.
func (p *Party) Close() {
	if p.nodes != nil {
		p.nodes.http.CloseIdleConnections()
	}
	p.db.Close()
	p.durable.Close()
}

// RelayURL returns the address of the relay this party uses.
func (p *Party) RelayURL() string { return p.relay.URL }
