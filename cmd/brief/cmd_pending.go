package main

import (
	"context"
	"fmt"
	"time"

	"brieftraeger/client"
)

const pendingUsage = `pending [--dir DIR] [--json] [--sent] [--ack-deadlines LIST]

Lists the letters this device opened that no person has acknowledged
('brief ack ID'), the most urgent first and, within a precedence, the
longest waiting first, each with how long it has waited since it was
opened against its acknowledgement deadline. Heartbeats and test letters
are acknowledged by the device and never listed. With --sent, it lists
instead the letters this party sent that were delivered and are not
acknowledged, after collecting receipts.`

func cmdPending(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "pending", pendingUsage)
	sent := fs.Bool("sent", false, "list the letters sent, delivered and not acknowledged")
	dl := fs.String("ack-deadlines", "", "acknowledgement `deadlines` other than the defaults (FLASH=10m,IMMEDIATE=1h,PRIORITY=6h,ROUTINE=24h)")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if fs.NArg() > 0 {
		return usagef("brief pending --dir DIR", "pending takes no arguments")
	}
	d, err := client.ParseAckDeadlines(*dl)
	if err != nil {
		return err
	}
	if *sent {
		return printUnacknowledged(ctx, e, p, d, *fs.asJSON)
	}
	list, err := p.PendingLetters(d)
	if err != nil {
		return err
	}
	return printOwed(e, list, *fs.asJSON, "no letters waiting for acknowledgement", func(l client.Pending) string {
		line := fmt.Sprintf("%s  %-9s  from %-12s  opened %s  %s  %s", l.ID, l.Precedence, printable(l.From, false),
			l.OpenedAt.Local().Format(time.DateTime), waited(l.WaitedS, l.Due.Sub(l.OpenedAt), l.Overdue), printable(fmt.Sprintf("%q", l.Subject), false))
		if l.AckUnsent {
			line += "  (acknowledged here; the receipt has not reached the relay: run 'brief ack' again)"
		}
		return line
	})
}

// printUnacknowledged collects receipts and prints the letters sent,
// delivered and not acknowledged.
func printUnacknowledged(ctx context.Context, e *env, p *client.Party, d client.AckDeadlines, asJSON bool) error {
	if _, err := p.CollectReceipts(ctx); err != nil {
		report(e.stderr, fmt.Errorf("listing from the receipts collected before: %w", err))
	}
	list, err := p.UnacknowledgedLetters(d)
	if err != nil {
		return err
	}
	return printOwed(e, list, asJSON, "no letters sent awaiting acknowledgement", func(l client.Unacknowledged) string {
		return fmt.Sprintf("%s  %-9s  to %-12s  delivered %s  %s  %s", l.ID, l.Precedence, printable(l.To, false),
			l.DeliveredAt.Local().Format(time.DateTime), waited(l.WaitedS, l.Due.Sub(l.DeliveredAt), l.Overdue), printable(fmt.Sprintf("%q", l.Subject), false))
	})
}

// printOwed prints a list of letters owed an acknowledgement: as JSON, or
// a line for each, or if there are none, the line none.
func printOwed[T any](e *env, list []T, asJSON bool, none string, line func(T) string) error {
	if asJSON {
		return printJSON(e.stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stdout, none)
	}
	for _, l := range list {
		fmt.Fprintln(e.stdout, line(l))
	}
	return nil
}

// waited says how long a letter has waited against its deadline.
func waited(s int64, deadline time.Duration, overdue bool) string {
	out := fmt.Sprintf("waited %s of %s", time.Duration(s)*time.Second, deadline)
	if overdue {
		out += "  OVERDUE"
	}
	return out
}
