package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"brieftraeger/client"
)

func cmdStatus(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "status", "status [--dir DIR] [--json] [--interval DURATION] [--wait DURATION] [--deadlines LIST]")
	interval := fs.Duration("interval", 0, "the heartbeat `interval` the lights are judged by; 0: the one 'brief watch' last sent with, else 60s")
	wait := fs.Duration("wait", 0, "poll until every channel is green, failing after `duration`")
	dl := fs.String("deadlines", "", "delivery `deadlines` other than the defaults (FLASH=10m,IMMEDIATE=30m,PRIORITY=3h,ROUTINE=6h), e.g. FLASH=5m")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if fs.NArg() > 0 {
		return usagef("", "status takes no arguments")
	}
	deadlines, err := client.ParseDeadlines(*dl)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(*wait)
	for {
		// Fresh receipts give the round trips; a relay that cannot be
		// reached shows as red below.
		p.CollectReceipts(ctx)
		st, err := p.Status(ctx, *interval)
		if err != nil {
			return err
		}
		if allGreen(st) || *wait <= 0 || time.Now().After(deadline) || ctx.Err() != nil {
			late := warnOverdue(e, p, deadlines)
			if *fs.asJSON {
				err = printJSON(e.stdout, withOverdue(st, late))
			} else {
				printStatus(e.stdout, st)
			}
			if err == nil {
				err = statusFault(st, *wait)
			}
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// warnOverdue prints a warning for each sent letter past its delivery
// deadline without a delivered receipt.
func warnOverdue(e *env, p *client.Party, d client.Deadlines) []client.Overdue {
	late, err := p.OverdueLetters(d)
	if err != nil {
		report(e.stderr, err)
	}
	for _, o := range late {
		fmt.Fprintf(e.stderr, "brief: warning: letter %s to %s (%s) is overdue: sealed %s, due %s, not delivered\n",
			o.ID, o.To, o.Precedence, o.SealedAt.Local().Format(time.DateTime), o.Due.Local().Format(time.DateTime))
	}
	return late
}

// channelJSON is a channel's status as 'brief status --json' prints it:
// with the letters sent on it that are overdue.
type channelJSON struct {
	client.ChannelStatus
	Overdue []client.Overdue `json:"overdue"`
}

func withOverdue(st []client.ChannelStatus, late []client.Overdue) []channelJSON {
	out := make([]channelJSON, 0, len(st))
	for _, s := range st {
		c := channelJSON{ChannelStatus: s, Overdue: []client.Overdue{}}
		for _, o := range late {
			if o.To == s.Channel {
				c.Overdue = append(c.Overdue, o)
			}
		}
		out = append(out, c)
	}
	return out
}

// statusFault is the fault 'brief status' exits 3 for: a channel is red,
// or with --wait, not every channel turned green in time.
func statusFault(st []client.ChannelStatus, wait time.Duration) error {
	var red []string
	for _, s := range st {
		if s.Light == client.Red {
			red = append(red, s.Channel)
		}
	}
	switch {
	case wait > 0 && !allGreen(st):
		return checkFailed{fmt.Errorf("not every channel turned green within %s", wait)}
	case len(red) == 1:
		return checkFailed{fmt.Errorf("the channel to %s is red", red[0])}
	case len(red) > 1:
		return checkFailed{fmt.Errorf("the channels to %s are red", strings.Join(red, ", "))}
	}
	return nil
}

func allGreen(st []client.ChannelStatus) bool {
	for _, s := range st {
		if s.Light != client.Green {
			return false
		}
	}
	return len(st) > 0
}

// printStatus prints one line per channel:
// "tehran  GREEN  sent 12:00:01 (rtt 35 ms)  received 12:00:02", and the
// channel's test letters if any went either way.
func printStatus(w io.Writer, st []client.ChannelStatus) {
	if len(st) == 0 {
		fmt.Fprintln(w, "no channels (pin a party with 'brief contact add')")
	}
	at := func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.Local().Format(time.TimeOnly)
	}
	for _, s := range st {
		var sent, received *time.Time
		if s.LastSent != nil {
			sent = &s.LastSent.SealedAt
		}
		if s.LastReceived != nil {
			received = &s.LastReceived.OpenedAt
		}
		rtt := "no round trip yet"
		if s.RTTMillis != nil {
			rtt = fmt.Sprintf("rtt %.0f ms", *s.RTTMillis)
		}
		line := fmt.Sprintf("%s  %-5s  sent %s (%s)  received %s", printable(s.Channel, false), strings.ToUpper(s.Light), at(sent), rtt, at(received))
		if s.RelayError != "" {
			line += "  relay unreachable: " + printable(s.RelayError, false)
		}
		fmt.Fprintln(w, line)
		if s.TestLetters != nil {
			printTestLetters(w, s.TestLetters, at)
		}
		for _, c := range s.RosterChanges {
			fmt.Fprintf(w, "  roster changed  %s %s  (roster #%d, seen %s)\n", printable(c.Party, false), printable(c.What, false),
				c.Serial, c.Seen.Local().Format(time.DateTime))
		}
	}
}

// printTestLetters prints the test letter lines of a channel:
// "  test letters  sent 13:00:01  last acknowledged 12:00:01 (delivered 35 ms, acknowledged 36 ms after posting)  received 12:00:02 (acknowledged)",
// then a line for each missing one.
func printTestLetters(w io.Writer, t *client.TestLetterStatus, at func(*time.Time) string) {
	var sent, acked, received *time.Time
	if t.LastSent != nil {
		sent = &t.LastSent.SealedAt
	}
	rtt := ""
	if t.LastAcknowledged != nil {
		acked = &t.LastAcknowledged.SealedAt
	}
	if t.PostToDeliveredMillis != nil && t.PostToAcknowledgedMillis != nil {
		rtt = fmt.Sprintf(" (delivered %.0f ms, acknowledged %.0f ms after posting)", *t.PostToDeliveredMillis, *t.PostToAcknowledgedMillis)
	}
	ack := ""
	if t.LastReceived != nil {
		received, ack = &t.LastReceived.OpenedAt, " (not acknowledged yet)"
		if t.LastReceived.AcknowledgedAt != nil {
			ack = " (acknowledged)"
		}
	}
	fmt.Fprintf(w, "  test letters  sent %s  last acknowledged %s%s  received %s%s\n", at(sent), at(acked), rtt, at(received), ack)
	for _, m := range t.Missing {
		fmt.Fprintf(w, "  test letter %s  sent %s  MISSING: not acknowledged by %s\n", m.ID, at(&m.SealedAt), at(&m.Due))
	}
}
