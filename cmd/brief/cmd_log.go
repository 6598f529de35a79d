package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"brieftraeger/client"
)

// logView is what 'brief log --json' prints.
type logView struct {
	Origin  string                `json:"origin"`
	Size    uint64                `json:"size"`
	Root    string                `json:"root"` // standard base64
	Letters []client.LoggedReport `json:"letters"`
}

func cmdLog(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "log", "log [--dir DIR] [--json] [--wait DURATION] [ID...]")
	wait := fs.Duration("wait", 0, "wait up to `DURATION` for records the relay has not logged yet")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	cp, err := p.SyncLog(ctx)
	if err != nil {
		return err
	}
	ids := fs.Args()
	if len(ids) == 0 {
		if ids, err = p.SentIDs(); err != nil {
			return err
		}
	}
	reps := []client.LoggedReport{}
	for deadline := time.Now().Add(*wait); ; {
		reps = reps[:0]
		done := true
		for _, id := range ids {
			r, err := p.VerifySentLogged(ctx, id)
			if err != nil {
				return err
			}
			reps, done = append(reps, r), done && r.AllLogged()
		}
		if done || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if kept, err := p.LoggedCheckpoint(); err == nil && kept != nil {
		cp = kept // the proofs may have moved it on
	}
	v := logView{Origin: cp.Origin, Size: cp.Size, Root: base64.StdEncoding.EncodeToString(cp.Root[:]), Letters: reps}
	// After --wait, a record still missing means the relay keeps it out of
	// its log: a script must be able to tell.
	var missing error
	for _, r := range reps {
		if *wait > 0 && !r.AllLogged() {
			missing = checkFailed{fmt.Errorf("letter %s: not every record is in the relay's log after %s", r.ID, *wait)}
		}
	}
	if *fs.asJSON {
		if err := printJSON(e.stdout, v); err != nil {
			return err
		}
		return missing
	}
	fmt.Fprintf(e.stdout, "log %s: size %d, root %s (signature and consistency verified)\n", printable(v.Origin, false), v.Size, v.Root)
	for _, r := range reps {
		fmt.Fprintf(e.stdout, "%s\n", r.ID)
		for _, rec := range r.Records {
			if rec.Logged {
				fmt.Fprintf(e.stdout, "  %-13s logged at index %d, inclusion verified\n", rec.Record, rec.Index)
			} else {
				fmt.Fprintf(e.stdout, "  %-13s not yet logged\n", rec.Record)
			}
		}
	}
	return missing
}
