package main

import (
	"context"
	"fmt"
	"io"

	"brieftraeger/demo"
)

func cmdDemo(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "demo", "demo [--json] [--dir DIR]")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	dir := fs.String("dir", "", "keep all state (relay and both parties) in `DIR`, which must be empty or absent; default: a temporary folder, removed afterwards")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("", "brief demo takes no arguments")
	}
	var progress io.Writer = e.stderr
	if *asJSON {
		progress = nil
	}
	rep, err := demo.Run(ctx, demo.Options{Dir: *dir, Progress: progress})
	if *asJSON {
		if perr := printJSON(e.stdout, rep); perr != nil {
			return perr
		}
	} else {
		printTimeline(e.stdout, rep)
	}
	if err != nil {
		return fmt.Errorf("demo failed: %w", err)
	}
	return nil
}

func printTimeline(w io.Writer, r *demo.Report) {
	fmt.Fprintf(w, "\nletter %s from %s to %s, %s: %q\n\n", r.LetterID, r.From, r.To, r.Precedence, r.Subject)
	for _, s := range r.Timeline {
		mark := "signature NOT verified"
		if s.Verified {
			mark = "signature verified"
		}
		fmt.Fprintf(w, "  %-13s %s  %-28s %s\n", s.Step, s.At.Local().Format("15:04:05.000"), s.Signer, mark)
		if s.Detail != "" {
			fmt.Fprintf(w, "  %-13s %12s  %s\n", "", "", s.Detail)
		}
	}
	fmt.Fprintf(w, "\n  post -> delivered: %.1f ms\n", r.PostToDeliveredMS)
	fmt.Fprintf(w, "  content as sent:   %v\n", r.ContentVerified)
	fmt.Fprintf(w, "  log views agree:   %v\n", r.LogConsistent)
	if r.Kept {
		fmt.Fprintf(w, "  relay data:        %s\n", r.RelayDir)
	}
	if r.OK() {
		fmt.Fprintln(w, "\nevery step verified")
	}
}
