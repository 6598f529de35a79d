package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"brieftraeger/client"
	"brieftraeger/identity"
	"brieftraeger/internal/api"
)

func cmdParty(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "party", args, map[string]func(context.Context, *env, []string) error{
		"init": partyInit, "show": partyShow, "export-key": partyExportKey, "device": partyDevice, "root": partyRoot,
		"passphrase": partyPassphrase, "epoch": partyEpoch,
	})
}

// partyInfo is what 'party init' and 'party show' print.
type partyInfo struct {
	Party           string    `json:"party"`
	Device          string    `json:"device"`
	Dir             string    `json:"dir"`
	RootKey         string    `json:"root_key"`
	RootFingerprint string    `json:"root_fingerprint"`
	RosterSerial    uint64    `json:"roster_serial"`
	RosterFile      string    `json:"roster_file"`
	Epoch           uint32    `json:"epoch"`
	EpochNotAfter   time.Time `json:"epoch_not_after"`
	Relay           string    `json:"relay"`
	WorkFactor      int       `json:"keystore_work_factor"`
	// CurrentRoot is the root key that signs the next roster version, if
	// a rotation made it another than RootKey (which others pin).
	CurrentRoot  string `json:"current_root_fingerprint,omitempty"`
	RootOnDevice bool   `json:"root_key_on_device"`
}

func infoOf(p *client.Party) (partyInfo, error) {
	r := p.Roster()
	ep := r.Epochs[len(r.Epochs)-1]
	pinned, err := p.PinnedRoot()
	if err != nil {
		return partyInfo{}, err
	}
	info := partyInfo{Party: p.Name(), Device: p.Device(), Dir: p.Dir(), RootKey: identity.EncodePublicKey(pinned),
		RootFingerprint: identity.Fingerprint(pinned), RosterSerial: r.Serial, RosterFile: filepath.Join(p.Dir(), "roster"),
		Epoch: ep.Number, EpochNotAfter: ep.NotAfter, Relay: p.RelayURL(), WorkFactor: p.KeystoreWorkFactor(), RootOnDevice: p.RootOnDevice()}
	if !r.Root.Equal(pinned) {
		info.CurrentRoot = identity.Fingerprint(r.Root)
	}
	return info, nil
}

// printParty prints what 'party init' and 'party show' say of p.
func printParty(e *env, p *client.Party, asJSON bool) error {
	info, err := infoOf(p)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(e.stdout, info)
	}
	where := "not on this device"
	if info.RootOnDevice {
		where = "on this device"
	}
	fmt.Fprintf(e.stdout, "party:    %s (device %s)\nroot key: %s\n          fingerprint %s (%s)\n",
		info.Party, info.Device, info.RootKey, info.RootFingerprint, where)
	if info.CurrentRoot != "" {
		fmt.Fprintf(e.stdout, "          rotated: the next roster is signed by %s\n", info.CurrentRoot)
	}
	fmt.Fprintf(e.stdout, "roster:   #%d in %s\nepoch:    %d, until %s\nrelay:    %s\nkeystore: scrypt work factor %d\n",
		info.RosterSerial, info.RosterFile, info.Epoch, info.EpochNotAfter.Format(time.DateOnly), info.Relay, info.WorkFactor)
	return nil
}

func partyInit(_ context.Context, e *env, args []string) error {
	fs := flags(e, "party init", "party init --dir DIR --party NAME --device NAME --relay RELAY.json [--relay-url URL] [--root-out FILE] [--work-factor N] [--json]")
	nf := newFolderFlags(fs, "the party's `name`, e.g. washington", "this device's `name`, e.g. duty-terminal")
	rootOut := fs.String("root-out", "", "keep the root key off this device: write it to this `file` (created), sealed to its own passphrase (BRIEF_ROOT_PASSPHRASE), for a safe")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, desc, pass, err := nf.setUp(e, fs, "party init", "the party folder")
	if err != nil {
		return err
	}
	var rootPass string
	if *rootOut != "" {
		if rootPass, err = askSecret(e, "BRIEF_ROOT_PASSPHRASE", "Root key passphrase", true); err != nil {
			return err
		}
	}
	p, err := client.Init(client.InitOptions{Dir: d, Party: *nf.party, Device: *nf.device, Passphrase: pass, WorkFactor: *nf.wf,
		AllowWeakWorkFactor: weakKeysForTests(e), Relay: desc, RootOut: *rootOut, RootPassphrase: rootPass}, client.Options{})
	if err != nil {
		return err
	}
	defer p.Close()
	if err := printParty(e, p, *asJSON); err != nil {
		return err
	}
	warnSealedWeak(e, p.KeystoreWorkFactor())
	if *rootOut != "" && !*asJSON {
		fmt.Fprintf(e.stderr, "brief: hint: the root key is in %s only: put it in a safe; every roster change ('brief party device add --root %s') needs it\n", *rootOut, *rootOut)
	}
	if !*asJSON {
		fmt.Fprintf(e.stderr, "brief: hint: give the roster file to the relay operator, and read the fingerprint to the parties you will write to, on a line you trust (they run 'brief contact add %s FINGERPRINT')\n", p.Name())
	}
	return nil
}

// folderFlags are the flags of a command that makes a device's folder
// ('party init', 'party device join').
type folderFlags struct {
	dir, party, device, relayFile, relayURL *string
	wf                                      *int
}

func newFolderFlags(fs *flagSet, partyUsage, deviceUsage string) *folderFlags {
	return &folderFlags{
		dir:       fs.String("dir", "", "the device's `folder` (created); default BRIEF_DIR"),
		party:     fs.String("party", "", partyUsage),
		device:    fs.String("device", "", deviceUsage),
		relayFile: fs.String("relay", "", "the relay descriptor `file` (relay.json) from the operator"),
		relayURL:  fs.String("relay-url", "", "the relay's `URL`, if not the one in the descriptor"),
		wf:        fs.Int("work-factor", identity.DefaultWorkFactor, "scrypt work factor (log2 N, 14..22) for the keystore passphrase"),
	}
}

// setUp checks the parsed flags of command and returns the folder, the
// relay descriptor and the new keystore's passphrase (asked twice).
func (nf *folderFlags) setUp(e *env, fs *flagSet, command, what string) (string, api.Descriptor, string, error) {
	var desc api.Descriptor
	d, err := partyDir(e, *nf.dir)
	if err != nil {
		return "", desc, "", err
	}
	if *nf.party == "" || *nf.device == "" || *nf.relayFile == "" || fs.NArg() > 0 {
		return "", desc, "", usagef("brief "+command+" --dir DIR --party NAME --device NAME --relay RELAY.json", "%s needs --party, --device and --relay", command)
	}
	if err := outsideSource(what, d); err != nil {
		return "", desc, "", err
	}
	if desc, err = readDescriptor(*nf.relayFile); err != nil {
		return "", desc, "", err
	}
	if *nf.relayURL != "" {
		desc.URL = *nf.relayURL
	}
	pass, err := passphrase(e, true)
	return d, desc, pass, err
}

func readDescriptor(file string) (api.Descriptor, error) {
	var d api.Descriptor
	b, err := os.ReadFile(file)
	if err != nil {
		return d, fmt.Errorf("failed to read relay descriptor: %w", err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("failed to parse relay descriptor %s: %w", file, err)
	}
	return d, nil
}

func partyShow(_ context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "party show", "party show [--dir DIR] [--json]")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := printParty(e, p, *fs.asJSON); err != nil {
		return err
	}
	warnWorkFactor(e, p.KeystoreWorkFactor())
	return nil
}
