package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
)

func cmdExport(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "export", "export [--dir DIR] [--json] --out FOLDER ID")
	out := fs.String("out", "", "the new `folder` to write the letter into (must not exist, or be empty)")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if fs.NArg() != 1 || *out == "" {
		return usagef("brief export --out FOLDER ID", "export takes one letter id and --out")
	}
	ex, err := p.Export(ctx, fs.Arg(0), *out)
	if err != nil {
		return err
	}
	if *fs.asJSON {
		return printJSON(e.stdout, ex)
	}
	fmt.Fprintf(e.stdout, "exported %s letter %s to %s\n", ex.Direction, ex.ID, printable(ex.Dir, false))
	for _, f := range ex.Files {
		fmt.Fprintf(e.stdout, "  %s\n", f)
	}
	for _, r := range ex.Log {
		if !r.Logged {
			fmt.Fprintf(e.stderr, "brief: %s of letter %s is not in the relay's log yet; its proof is missing from the export\n", r.Record, ex.ID)
		}
	}
	if ex.Epoch != 0 {
		fmt.Fprintf(e.stderr, "brief: hint: 'brief party export-key --epoch %d --out FILE' writes the key that opens letter.age with the age tool\n", ex.Epoch)
	}
	return nil
}

func partyExportKey(_ context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "party export-key", "party export-key [--dir DIR] [--json] --epoch N --out FILE [--plain]")
	epoch := fs.Uint("epoch", 0, "the epoch key's `number` (see 'brief party show' or a letter's summary.txt)")
	out := fs.String("out", "", "the new key `file` (never overwritten)")
	plain := fs.Bool("plain", false, "write the key unprotected, for an air-gapped machine; default: sealed with a passphrase (BRIEF_EXPORT_PASSPHRASE or asked)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *epoch == 0 || *epoch > math.MaxUint32 || *out == "" || fs.NArg() > 0 {
		return usagef("brief party export-key --epoch N --out FILE", "party export-key needs --epoch and --out")
	}
	if err := outsideSource("the key file's folder", filepath.Dir(*out)); err != nil {
		return err
	}
	p, err := loadParty(e, *fs.dir)
	if err != nil {
		return err
	}
	defer p.Close()
	var pass string
	if !*plain {
		if pass, err = askSecret(e, "BRIEF_EXPORT_PASSPHRASE", "Passphrase for the key file", true); err != nil {
			return err
		}
	}
	if err := p.ExportEpochKey(uint32(*epoch), *out, pass); err != nil {
		return err
	}
	if *fs.asJSON {
		return printJSON(e.stdout, map[string]any{"epoch": *epoch, "file": *out, "protected": !*plain})
	}
	how := "sealed with your passphrase (age asks for it)"
	if *plain {
		how = "UNPROTECTED: keep it offline and destroy it after use"
	}
	fmt.Fprintf(e.stdout, "wrote epoch key %d of %s to %s, %s\n", *epoch, p.Name(), printable(*out, false), how)
	return nil
}
