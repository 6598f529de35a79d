package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"brieftraeger/client"
)

func partyEpoch(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "party epoch", args, map[string]func(context.Context, *env, []string) error{
		"list": epochList, "rotate": epochRotate, "destroy": epochDestroy,
	})
}

// epochList lists the epochs of the party's roster, after following the
// relay's copy of the chain (and fetching the epoch keys this device
// lacks), and those this device destroyed.
func epochList(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "party epoch list", "party epoch list [--dir DIR] [--offline] [--json]")
	offline := fs.Bool("offline", false, "list the roster this device holds, without asking the relay for a newer one")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if fs.NArg() > 0 {
		return usagef("brief party epoch list", "party epoch list takes no arguments")
	}
	if !*offline {
		if _, err := p.RefreshRoster(ctx); err != nil {
			return err
		}
	}
	destroyed, err := p.DestroyedEpochs()
	if err != nil {
		return err
	}
	r := p.Roster()
	if *fs.asJSON {
		if destroyed == nil {
			destroyed = []client.DestroyedEpoch{}
		}
		return printJSON(e.stdout, map[string]any{"party": r.Party, "roster_serial": r.Serial, "epochs": p.Epochs(), "destroyed": destroyed})
	}
	fmt.Fprintf(e.stdout, "%s: roster #%d\n", r.Party, r.Serial)
	for _, s := range p.Epochs() {
		var notes []string
		switch {
		case s.Current:
			notes = append(notes, "current")
		case s.Expired:
			notes = append(notes, "expired")
		default:
			notes = append(notes, "overlap")
		}
		if !s.Held {
			notes = append(notes, "not held by this device")
		}
		fmt.Fprintf(e.stdout, "  epoch %d  until %s  %s\n", s.Number, s.NotAfter.Format(time.DateTime)+"Z", strings.Join(notes, ", "))
	}
	for _, d := range destroyed {
		fmt.Fprintf(e.stdout, "  epoch %d  destroyed %s\n", d.Number, d.DestroyedAt.UTC().Format(time.DateTime)+"Z")
	}
	return nil
}

// epochRotate makes a new epoch, now or if the current one is old enough,
// and destroys the epochs past retention.
func epochRotate(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "party epoch rotate", "party epoch rotate [--dir DIR] [--root FILE] [--if-older-than DURATION] [--lifetime DURATION] [--keep-epochs N] [--json]")
	root := rootFlag(fs.flagSet)
	older := fs.Duration("if-older-than", 0, "rotate only if the current epoch is this `old` (e.g. 720h, for a daily cron job); 0: rotate now")
	lifetime := fs.Duration("lifetime", client.DefaultEpochLifetime, "how long letters may be sealed to the new epoch (`duration`)")
	keep := fs.Int("keep-epochs", client.DefaultKeepEpochs, "keep the newest `N` epochs; older ones are destroyed once expired")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if fs.NArg() > 0 || *older < 0 || *lifetime <= 0 || *keep < 1 {
		return usagef("brief party epoch rotate --if-older-than 720h", "party epoch rotate takes no arguments, a positive --lifetime and a --keep-epochs of 1 or more")
	}
	if err := useRoot(ctx, e, p, *root); err != nil {
		return err
	}
	ch, err := p.RotateEpoch(ctx, client.EpochOptions{Lifetime: *lifetime, Keep: *keep, IfOlderThan: *older})
	return epochChangeDone(e, ch, err, *fs.asJSON)
}

// epochDestroy destroys the epochs given, or those past retention.
func epochDestroy(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "party epoch destroy", "party epoch destroy [--dir DIR] [--root FILE] [--keep-epochs N] [--json] [EPOCH...]")
	root := rootFlag(fs.flagSet)
	keep := fs.Int("keep-epochs", client.DefaultKeepEpochs, "with no EPOCH given: keep the newest `N` epochs, destroy older ones that expired")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	var numbers []uint32
	for _, a := range fs.Args() {
		n, err := strconv.ParseUint(a, 10, 32)
		if err != nil || n == 0 {
			return usagef("'brief party epoch list' shows the epochs", "%q is not an epoch number", a)
		}
		numbers = append(numbers, uint32(n))
	}
	if *keep < 1 {
		return usagef("brief party epoch destroy --keep-epochs 3", "--keep-epochs must be 1 or more")
	}
	if err := useRoot(ctx, e, p, *root); err != nil {
		return err
	}
	ch, err := p.DestroyEpochs(ctx, numbers, *keep)
	return epochChangeDone(e, ch, err, *fs.asJSON)
}

func printEpochChange(e *env, ch *client.EpochChange, asJSON bool) error {
	r := ch.Roster
	if asJSON {
		out := map[string]any{"party": r.Party, "roster_serial": r.Serial, "destroyed": ch.Destroyed}
		if ch.Destroyed == nil {
			out["destroyed"] = []uint32{}
		}
		if ch.Added != 0 {
			out["added"] = ch.Added
			out["not_after"] = r.Epoch(ch.Added).NotAfter
		}
		return printJSON(e.stdout, out)
	}
	if ch.Added == 0 && len(ch.Destroyed) == 0 {
		fmt.Fprintf(e.stdout, "no change to the epochs of %s: roster #%d\n", r.Party, r.Serial)
		return nil
	}
	if ch.Added != 0 {
		fmt.Fprintf(e.stdout, "new epoch %d of %s, until %s: roster #%d\n", ch.Added, r.Party, r.Epoch(ch.Added).NotAfter.Format(time.DateTime)+"Z", r.Serial)
	}
	for _, n := range ch.Destroyed {
		fmt.Fprintf(e.stdout, "destroyed epoch %d of %s: roster #%d\n", n, r.Party, r.Serial)
	}
	return nil
}

// epochChangeDone prints an epoch change. One made at the relay whose
// last local step failed is printed all the same, with the error after
// it, so that nobody makes it again.
func epochChangeDone(e *env, ch *client.EpochChange, err error, asJSON bool) error {
	if ch == nil {
		return err
	}
	if perr := printEpochChange(e, ch, asJSON); perr != nil {
		return perr
	}
	if err != nil {
		return fmt.Errorf("the roster change above was made, but a step after it failed (the next 'brief party device list' or watch tick finishes it): %w", err)
	}
	return nil
}
