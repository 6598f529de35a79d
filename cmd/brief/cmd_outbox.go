package main

import (
	"context"
	"fmt"
	"time"

	"brieftraeger/client"
	"brieftraeger/internal/alarm"
)

// reportQueued tells that a letter was sealed and kept, not posted: on
// stderr, or with --json as the letter's state. It is not a failure.
func reportQueued(e *env, asJSON bool, sent *client.SentLetter, q *client.QueuedError) error {
	if asJSON {
		return printJSON(e.stdout, map[string]any{"id": sent.ID, "to": sent.To, "seq": sent.Seq, "precedence": sent.Precedence,
			"size": sent.Size, "state": client.StateQueued, "error": q.Err.Error()})
	}
	fmt.Fprintf(e.stderr, "brief: queued in the outbox: letter %s to %s (seq %d): %v\n", sent.ID, printable(sent.To, false), sent.Seq, printable(q.Err.Error(), false))
	for _, h := range append(hints(q.Err), "the letter is kept, sealed, with its number; 'brief outbox retry' posts it now, and a running 'brief watch' posts it when the relay answers") {
		fmt.Fprintf(e.stderr, "brief: hint: %s\n", h)
	}
	return nil
}

const outboxUsage = `outbox [--dir DIR] [--json] [retry]

Lists the letters sealed on this device that wait to be posted, by channel
and sequence number, with their attempts and last error. 'brief outbox
retry' posts them now, each channel in sequence order; 'brief watch' does
so by itself, with backoff.`

func cmdOutbox(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "outbox", outboxUsage)
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	switch {
	case fs.NArg() == 0:
		list, err := p.Outbox()
		if err != nil {
			return err
		}
		return printOutbox(e, p, *fs.asJSON, list)
	case fs.NArg() == 1 && fs.Arg(0) == "retry":
		return retryOutbox(ctx, e, p, *fs.asJSON)
	}
	return usagef("brief outbox [retry]", "outbox takes no argument but 'retry'")
}

// outboxView is one letter in the outbox, as listed.
type outboxView struct {
	ID          string     `json:"id"`
	To          string     `json:"to"`
	Seq         uint64     `json:"seq"`
	Precedence  string     `json:"precedence"`
	Subject     string     `json:"subject"`
	SealedAt    time.Time  `json:"sealed_at"`
	Attempts    int        `json:"attempts"`
	LastAttempt *time.Time `json:"last_attempt,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	Behind      string     `json:"behind,omitempty"` // the letter of the channel that goes first, if any
}

func printOutbox(e *env, p *client.Party, asJSON bool, list []*client.SentLetter) error {
	views := []outboxView{}
	for i, s := range list {
		v := outboxView{ID: s.ID, To: s.To, Seq: s.Seq, Precedence: s.Precedence, Subject: s.Subject,
			SealedAt: s.SealedAt, Attempts: s.Attempts, LastAttempt: s.LastAttempt, LastError: s.PostError}
		if i > 0 && list[i-1].To == s.To {
			v.Behind = list[i-1].ID
		}
		views = append(views, v)
	}
	if asJSON {
		return printJSON(e.stdout, views)
	}
	if len(views) == 0 {
		fmt.Fprintln(e.stdout, "the outbox is empty")
		return nil
	}
	for _, v := range views {
		fmt.Fprintf(e.stdout, "%s  to %s  seq %d  %-9s  %q  sealed %s, %d attempts\n", v.ID, printable(v.To, false), v.Seq, v.Precedence,
			printable(v.Subject, false), v.SealedAt.Local().Format(time.DateTime), v.Attempts)
		if v.Behind != "" {
			fmt.Fprintf(e.stdout, "  waits behind %s\n", v.Behind)
		} else if v.LastError != "" {
			fmt.Fprintf(e.stdout, "  last error: %s\n", printable(v.LastError, false))
		}
	}
	return nil
}

func retryOutbox(ctx context.Context, e *env, p *client.Party, asJSON bool) error {
	posted, refused, err := p.RetryOutbox(ctx, true)
	if asJSON {
		left, lerr := p.Outbox()
		if lerr != nil {
			return lerr
		}
		v := map[string]any{"posted": ids(posted), "refused": ids(refused), "waiting": ids(left)}
		if err != nil {
			v["error"] = err.Error()
		}
		if perr := printJSON(e.stdout, v); perr != nil {
			return perr
		}
		return err
	}
	for _, s := range posted {
		fmt.Fprintf(e.stdout, "posted %s to %s (seq %d); relay receipt verified\n", s.ID, printable(s.To, false), s.Seq)
	}
	for _, s := range refused {
		fmt.Fprintf(e.stdout, "not sent: %s to %s (seq %d): the relay refused it\n", s.ID, printable(s.To, false), s.Seq)
	}
	if err != nil {
		return fmt.Errorf("letters still wait in the outbox: %w", err)
	}
	if len(posted)+len(refused) == 0 {
		fmt.Fprintln(e.stdout, "the outbox is empty")
	}
	return nil
}

func ids(list []*client.SentLetter) []string {
	out := []string{}
	for _, s := range list {
		out = append(out, s.ID)
	}
	return out
}

// outboxRetryEvery is how often a running watch looks at its outbox; each
// channel is tried again only when its backoff has passed
// (client.RetryOutbox).
const outboxRetryEvery = time.Second

// retryOutbox posts what waits in the outbox until ctx ends, and raises
// the alarm for a FLASH or IMMEDIATE letter that waits too long.
func (w *watcher) retryOutbox(ctx context.Context) {
	var tracker alarm.Tracker
	tick := time.NewTicker(outboxRetryEvery)
	defer tick.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		posted, refused, err := w.p.RetryOutbox(ctx, false)
		for _, s := range posted {
			w.note("posted %s to %s (seq %d) from the outbox", s.ID, printable(s.To, false), s.Seq)
		}
		for _, s := range refused {
			w.note("not sent: %s to %s (seq %d): the relay refused it", s.ID, printable(s.To, false), s.Seq)
		}
		// A pass that tried nothing (the backoff had not run out) says
		// nothing new: the last failure stands until a pass tries again.
		if err != nil && ctx.Err() == nil && err.Error() != lastErr {
			report(w.e.stderr, err)
			lastErr = err.Error()
		}
		waiting, err := w.p.Outbox()
		if err != nil {
			continue
		}
		if len(waiting) == 0 {
			lastErr = ""
		}
		for _, ev := range tracker.Queued(waiting) {
			w.print(ev, nil)
			w.hooks.Raise(ctx, ev)
		}
	}
}

// note prints a line of the watch's own news (nothing with --json).
func (w *watcher) note(format string, args ...any) {
	if !w.asJSON {
		fmt.Fprintf(w.e.stdout, format+"\n", args...)
	}
}
