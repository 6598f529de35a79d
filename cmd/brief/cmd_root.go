package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"

	"brieftraeger/client"
	"brieftraeger/identity"
)

// rootFlag adds --root, the root key file of a party whose devices do not
// keep the root key.
func rootFlag(fs *flagSet) *string {
	return fs.String("root", "", "the party's root key `file` ('party init --root-out'), if this device does not keep the root key")
}

// useRoot takes the root key from file, if given, asking for its
// passphrase (BRIEF_ROOT_PASSPHRASE).
func useRoot(ctx context.Context, e *env, p *client.Party, file string) error {
	if file == "" {
		return nil
	}
	sealed, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("failed to read root key file: %w", err)
	}
	pass, err := askSecret(e, "BRIEF_ROOT_PASSPHRASE", "Root key passphrase", false)
	if err != nil {
		return err
	}
	return p.UseRootKeyFile(ctx, sealed, pass)
}

func partyRoot(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "party root", args, map[string]func(context.Context, *env, []string) error{
		"rotate": rootRotate,
	})
}

// rootRotate replaces the party's root key, kept on this device or in a
// root key file, by a new one, written to a new file first: afterwards the
// root key is off every device.
func rootRotate(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "party root rotate", "party root rotate [--dir DIR] [--root FILE] --root-out NEWFILE [--work-factor N] [--json]")
	root := rootFlag(fs.flagSet)
	out := fs.String("root-out", "", "write the new root key to this `file` (created), sealed to a new passphrase (BRIEF_NEW_ROOT_PASSPHRASE)")
	wf := fs.Int("work-factor", identity.DefaultWorkFactor, "scrypt work factor (log2 N, 10..22) for the new file's passphrase")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if *out == "" || fs.NArg() > 0 {
		return usagef("brief party root rotate [--root OLD.age] --root-out NEW.age", "party root rotate needs --root-out")
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("%s already exists: give a new file for the new root key", *out)
	}
	if err := useRoot(ctx, e, p, *root); err != nil {
		return err
	}
	pass, err := askSecret(e, "BRIEF_NEW_ROOT_PASSPHRASE", "New root key passphrase", true)
	if err != nil {
		return err
	}
	r, err := p.RotateRootToFile(ctx, func(k ed25519.PrivateKey) error {
		return client.WriteRootKeyFile(*out, p.Name(), k, pass, *wf, weakKeysForTests(e))
	})
	if err != nil {
		return err
	}
	if *fs.asJSON {
		return printJSON(e.stdout, map[string]any{"party": r.Party, "roster_serial": r.Serial, "root_fingerprint": identity.Fingerprint(r.Root), "root_file": *out})
	}
	fmt.Fprintf(e.stdout, "rotated the root key of %s: roster #%d, root %s in %s\n", r.Party, r.Serial, identity.Fingerprint(r.Root), *out)
	if *root != "" {
		fmt.Fprintf(e.stderr, "brief: hint: put %s in the safe and destroy %s: it no longer signs anything the relay or the other parties take\n", *out, *root)
	} else {
		fmt.Fprintf(e.stderr, "brief: hint: the root key is now only in %s, off this device: put it in a safe\n", *out)
	}
	return nil
}
