package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"brieftraeger/client"
	"brieftraeger/identity"
)

func partyDevice(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "party device", args, map[string]func(context.Context, *env, []string) error{
		"join": deviceJoin, "add": deviceAdd, "finish": deviceFinish, "remove": deviceRemove, "list": deviceList,
	})
}

// deviceJoin starts a new device of an existing party: its keys and the
// join request to carry to a device that holds the root key.
func deviceJoin(_ context.Context, e *env, args []string) error {
	fs := flags(e, "party device join", "party device join --dir DIR --party NAME --device NAME --relay RELAY.json [--relay-url URL] [--root-fingerprint FP] [--work-factor N] [--json]")
	nf := newFolderFlags(fs, "the `name` of the party to join", "this device's `name`, unique in the party")
	fp := fs.String("root-fingerprint", "", "the party's root key `fingerprint`, as 'brief party show' prints it on a device of the party")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, desc, pass, err := nf.setUp(e, fs, "party device join", "the device folder")
	if err != nil {
		return err
	}
	jr, err := client.StartJoin(client.JoinOptions{Dir: d, Party: *nf.party, Device: *nf.device, Passphrase: pass,
		WorkFactor: *nf.wf, AllowWeakWorkFactor: weakKeysForTests(e), Relay: desc, RootFingerprint: *fp})
	if err != nil {
		return err
	}
	warnSealedWeak(e, *nf.wf)
	file := filepath.Join(d, "join-request")
	if *asJSON {
		return printJSON(e.stdout, map[string]string{"party": jr.Party, "device": jr.Device.Name, "join_request": file,
			"device_fingerprint": identity.Fingerprint(jr.Device.Key)})
	}
	fmt.Fprintf(e.stdout, "join request for %s/%s written to %s\ndevice key fingerprint %s\n", jr.Party, jr.Device.Name, file, identity.Fingerprint(jr.Device.Key))
	fmt.Fprintf(e.stderr, "brief: hint: carry %s to a device of %s that holds the root key and run 'brief party device add %s' there; then 'brief party device finish ADMISSION' here\n", file, jr.Party, filepath.Base(file))
	return nil
}

// deviceAdd admits a device by its join request: the root holder signs the
// next roster, gives it to the relay and writes the admission.
func deviceAdd(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "party device add", "party device add [--dir DIR] [--root FILE] [--fingerprint FP] [--out FILE] [--json] JOIN-REQUEST")
	out := fs.String("out", "", "write the admission to this `file` (default admission-DEVICE.json in the current folder)")
	want := fs.String("fingerprint", "", "the new device's key `fingerprint`, as 'party device join' printed it there: the request must carry that key")
	root := rootFlag(fs.flagSet)
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := useRoot(ctx, e, p, *root); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("the join request is the file 'brief party device join' wrote on the new device", "party device add takes one join request file")
	}
	raw, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("failed to read join request: %w", err)
	}
	if *want != "" {
		if err := checkJoinFingerprint(raw, *want); err != nil {
			return err
		}
	}
	ad, err := p.AddDevice(ctx, raw)
	if err != nil {
		return err
	}
	file := *out
	if file == "" {
		file = "admission-" + ad.Device + ".json"
	}
	b, err := json.MarshalIndent(ad, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		return usagef("run the same 'brief party device add' again: it makes the admission again without changing the roster",
			"the device is on roster %d, but the admission could not be written: %v", p.Roster().Serial, err)
	}
	fp := identity.Fingerprint(p.Roster().Device(ad.Device).Key)
	if *fs.asJSON {
		return printJSON(e.stdout, map[string]any{"party": ad.Party, "device": ad.Device, "device_fingerprint": fp,
			"roster_serial": p.Roster().Serial, "admission": file, "again": ad.Again})
	}
	if ad.Again {
		fmt.Fprintf(e.stdout, "device %s is on roster #%d of %s already: admission made again\n", ad.Device, p.Roster().Serial, ad.Party)
	} else {
		fmt.Fprintf(e.stdout, "added device %s to %s: roster #%d\n", ad.Device, ad.Party, p.Roster().Serial)
	}
	fmt.Fprintf(e.stdout, "device key fingerprint %s\nadmission written to %s\n", fp, file)
	fmt.Fprintf(e.stderr, "brief: hint: check that the fingerprint is the one the new device printed; if not, remove the device at once\n")
	fmt.Fprintf(e.stderr, "brief: hint: carry %s to the new device and run 'brief party device finish %s' there\n", file, filepath.Base(file))
	return nil
}

// deviceFinish makes a device that asked to join a party device, with the
// admission the root holder wrote.
func deviceFinish(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "party device finish", "party device finish [--dir DIR] [--json] ADMISSION")
	dir := fs.String("dir", "", "the new device's `folder`; default BRIEF_DIR")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, err := partyDir(e, *dir)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("the admission is the file 'brief party device add' wrote", "party device finish takes one admission file")
	}
	ad, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("failed to read admission: %w", err)
	}
	pass, err := passphrase(e, false)
	if err != nil {
		return err
	}
	p, err := client.FinishJoin(ctx, d, pass, ad, client.Options{})
	if err != nil {
		return err
	}
	defer p.Close()
	if err := printParty(e, p, *asJSON); err != nil {
		return err
	}
	if !*asJSON {
		fmt.Fprintf(e.stderr, "brief: hint: destroy %s now: it holds the party's epoch keys, sealed to this device, and a copy would outlive their destruction\n", fs.Arg(0))
	}
	return nil
}

func deviceRemove(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "party device remove", "party device remove [--dir DIR] [--root FILE] [--json] NAME")
	root := rootFlag(fs.flagSet)
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := useRoot(ctx, e, p, *root); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("'brief party device list' shows the devices", "party device remove takes one device name")
	}
	r, err := p.RemoveDevice(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	if *fs.asJSON {
		return printJSON(e.stdout, map[string]any{"party": r.Party, "removed": fs.Arg(0), "roster_serial": r.Serial})
	}
	fmt.Fprintf(e.stdout, "removed device %s from %s: roster #%d\n", fs.Arg(0), r.Party, r.Serial)
	return nil
}

// deviceList lists the devices on the party's roster, after following the
// relay's copy of the chain.
func deviceList(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "party device list", "party device list [--dir DIR] [--offline] [--json]")
	offline := fs.Bool("offline", false, "list the roster this device holds, without asking the relay for a newer one")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	r := p.Roster()
	if !*offline {
		if r, err = p.RefreshRoster(ctx); err != nil {
			return err
		}
	}
	type dev struct {
		Name        string `json:"name"`
		Fingerprint string `json:"fingerprint"`
		This        bool   `json:"this_device,omitempty"`
	}
	var out []dev
	for _, d := range r.Devices {
		out = append(out, dev{Name: d.Name, Fingerprint: identity.Fingerprint(d.Key), This: d.Name == p.Device()})
	}
	if *fs.asJSON {
		return printJSON(e.stdout, map[string]any{"party": r.Party, "roster_serial": r.Serial, "devices": out})
	}
	fmt.Fprintf(e.stdout, "%s: roster #%d\n", r.Party, r.Serial)
	for _, d := range out {
		this := ""
		if d.This {
			this = "  (this device)"
		}
		fmt.Fprintf(e.stdout, "  %s  %s%s\n", printable(d.Name, false), d.Fingerprint, this)
	}
	return nil
}

// checkJoinFingerprint refuses a join request whose device key does not
// have the fingerprint the new device showed, in any form people read it.
func checkJoinFingerprint(raw []byte, want string) error {
	jr, err := identity.ParseJoinRequest(raw)
	if err != nil {
		return err
	}
	pin, err := identity.ParsePin(want)
	if err != nil {
		return fmt.Errorf("--fingerprint: %w", err)
	}
	if pin.Key != nil {
		pin.Fingerprint = identity.Fingerprint(pin.Key)
	}
	if got := identity.Fingerprint(jr.Device.Key); got != pin.Fingerprint {
		return usagef("do not admit it: make a new join request on the device and carry it again yourself",
			"the join request carries device key %s, not %s as the new device showed: it was changed or swapped on its way", got, pin.Fingerprint)
	}
	return nil
}
