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
		"passphrase": partyPassphrase,
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
}

func infoOf(p *client.Party) partyInfo {
	r := p.Roster()
	ep := r.Epochs[len(r.Epochs)-1]
	return partyInfo{Party: p.Name(), Device: p.Device(), Dir: p.Dir(), RootKey: identity.EncodePublicKey(r.Root),
		RootFingerprint: identity.Fingerprint(r.Root), RosterSerial: r.Serial, RosterFile: filepath.Join(p.Dir(), "roster"),
		Epoch: ep.Number, EpochNotAfter: ep.NotAfter, Relay: p.RelayURL(), WorkFactor: p.KeystoreWorkFactor()}
}

func printInfo(e *env, info partyInfo, asJSON bool) error {
	if asJSON {
		return printJSON(e.stdout, info)
	}
	fmt.Fprintf(e.stdout, "party:    %s (device %s)\nroot key: %s\n          fingerprint %s\nroster:   #%d in %s\nepoch:    %d, until %s\nrelay:    %s\nkeystore: scrypt work factor %d\n",
		info.Party, info.Device, info.RootKey, info.RootFingerprint, info.RosterSerial, info.RosterFile,
		info.Epoch, info.EpochNotAfter.Format(time.DateOnly), info.Relay, info.WorkFactor)
	return nil
}

func partyInit(_ context.Context, e *env, args []string) error {
	fs := flags(e, "party init", "party init --dir DIR --party NAME --device NAME --relay RELAY.json [--relay-url URL] [--work-factor N] [--json]")
	dir := fs.String("dir", "", "the party's `folder` (created); default BRIEF_DIR")
	party := fs.String("party", "", "the party's `name`, e.g. washington")
	device := fs.String("device", "", "this device's `name`, e.g. duty-terminal")
	relayFile := fs.String("relay", "", "the relay descriptor `file` (relay.json) from the operator")
	relayURL := fs.String("relay-url", "", "the relay's `URL`, if not the one in the descriptor")
	wf := fs.Int("work-factor", identity.DefaultWorkFactor, "scrypt work factor (log2 N, 14..22) for the keystore passphrase")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, err := partyDir(e, *dir)
	if err != nil {
		return err
	}
	if *party == "" || *device == "" || *relayFile == "" || fs.NArg() > 0 {
		return usagef("brief party init --dir DIR --party NAME --device NAME --relay RELAY.json", "party init needs --party, --device and --relay")
	}
	if err := outsideSource("the party folder", d); err != nil {
		return err
	}
	desc, err := readDescriptor(*relayFile)
	if err != nil {
		return err
	}
	if *relayURL != "" {
		desc.URL = *relayURL
	}
	pass, err := passphrase(e, true)
	if err != nil {
		return err
	}
	p, err := client.Init(client.InitOptions{Dir: d, Party: *party, Device: *device, Passphrase: pass, WorkFactor: *wf,
		AllowWeakWorkFactor: weakKeysForTests(e), Relay: desc}, client.Options{})
	if err != nil {
		return err
	}
	defer p.Close()
	if err := printInfo(e, infoOf(p), *asJSON); err != nil {
		return err
	}
	warnSealedWeak(e, p.KeystoreWorkFactor())
	if !*asJSON {
		fmt.Fprintf(e.stderr, "brief: hint: give the roster file to the relay operator, and read the fingerprint to the parties you will write to, on a line you trust (they run 'brief contact add %s FINGERPRINT')\n", p.Name())
	}
	return nil
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
	if err := printInfo(e, infoOf(p), *fs.asJSON); err != nil {
		return err
	}
	warnWorkFactor(e, p.KeystoreWorkFactor())
	return nil
}
