package main

import (
	"context"
	"fmt"
	"time"

	"brieftraeger/client"
)

func cmdAudit(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "audit", "audit [--dir DIR] [--json] [--wait DURATION]")
	wait := fs.Duration("wait", 0, "wait up to `DURATION` for local records the relay has not logged yet")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	var rep *client.AuditReport
	for deadline := time.Now().Add(*wait); ; {
		if rep, err = p.Audit(ctx, auditProgress(e)); err != nil {
			return err
		}
		if rep.OK || !rep.TreeMatches || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if *fs.asJSON {
		if err := printJSON(e.stdout, rep); err != nil {
			return err
		}
	} else {
		printAudit(e, rep)
	}
	if !rep.OK {
		return checkFailed{fmt.Errorf("audit failed")}
	}
	return nil
}

// auditProgress prints progress to stderr for logs of 100,000 leaves or more.
func auditProgress(e *env) func(done, total uint64) {
	var last uint64
	return func(done, total uint64) {
		if total >= 100_000 && (done*10/total > last || done == total) {
			last = done * 10 / total
			fmt.Fprintf(e.stderr, "brief: fetched %d of %d leaves\n", done, total)
		}
	}
}

func printAudit(e *env, r *client.AuditReport) {
	fmt.Fprintf(e.stdout, "log %s: %d leaves, root %s\n", printable(r.Origin, false), r.Size, r.Root)
	if r.TreeMatches {
		fmt.Fprintln(e.stdout, "  the leaves recompute to the signed root; the checkpoint is consistent with those accepted before")
	} else {
		fmt.Fprintln(e.stdout, "  ALARM: the leaves the relay served do not recompute to its signed root")
	}
	fmt.Fprintf(e.stdout, "  %d local records looked up, %d missing\n", r.Records, len(r.Missing))
	for _, m := range r.Missing {
		fmt.Fprintf(e.stdout, "  missing: %s\n", printable(m, false))
	}
	for _, m := range r.NotPosted {
		fmt.Fprintf(e.stdout, "  %s\n", m)
	}
	if r.OK {
		fmt.Fprintln(e.stdout, "verdict: ok")
	} else {
		fmt.Fprintln(e.stdout, "verdict: FAILED")
	}
}
