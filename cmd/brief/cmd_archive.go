package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
)

const listUsage = `list [--dir DIR] [--sent | --received] [--from PARTY | --to PARTY] [--thread ID] [--search TEXT] [--all] [--limit N] [--json]

Lists the letters this device sent and opened, newest first, from its
records alone (the relay is not asked). --search finds letters whose
subject or body holds every word given.`

func cmdList(_ context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "list", listUsage)
	sent := fs.Bool("sent", false, "only the letters sent from this device")
	received := fs.Bool("received", false, "only the letters opened on this device")
	from := fs.String("from", "", "only the letters received from `party`")
	to := fs.String("to", "", "only the letters sent to `party`")
	thread := fs.String("thread", "", "only the letters of the thread that letter `ID` started")
	search := fs.String("search", "", "only the letters whose subject or body holds every word of `text`")
	all := fs.Bool("all", false, allUsage)
	limit := fs.Int("limit", 100, "at most `n` letters, the newest")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := listFilter(fs, *sent, *received, *from, *to, *thread, *search, *all, *limit)
	if err != nil {
		return err
	}
	p, err := loadParty(e, *fs.dir)
	if err != nil {
		return err
	}
	defer p.Close()
	f.Limit++ // one more than shown: whether there are more
	list, err := p.List(f)
	if err != nil {
		return err
	}
	more := len(list) == f.Limit
	if more {
		list = list[:len(list)-1]
	}
	if *fs.asJSON {
		return printJSON(e.stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stdout, "no letters")
	}
	for _, l := range list {
		fmt.Fprintln(e.stdout, listLine(l))
	}
	if more {
		fmt.Fprintf(e.stderr, "brief: the %d newest letters shown; there are more (--limit N)\n", len(list))
	}
	return nil
}

// listFilter checks list's flags and makes them a filter.
func listFilter(fs *partyFlags, sent, received bool, from, to, thread, search string, all bool, limit int) (client.ListFilter, error) {
	f := client.ListFilter{Party: from + to, Thread: thread, Search: search, All: all, Limit: limit}
	switch {
	case fs.NArg() > 0:
		return f, usagef("brief list [--sent | --received] [--from PARTY | --to PARTY] [--search TEXT]", "list takes no arguments, only flags")
	case sent && received:
		return f, usagef("leave both out to list the letters of both", "give --sent or --received, not both")
	case from != "" && to != "":
		return f, usagef("--from lists letters received, --to letters sent", "give --from or --to, not both")
	case from != "" && sent, to != "" && received:
		return f, usagef("--from lists letters received, --to letters sent", "--from goes with received letters and --to with sent ones")
	case limit <= 0:
		return f, usagef("", "--limit must be at least 1")
	}
	if thread != "" {
		if _, err := envelope.ParseID(thread); err != nil {
			return f, usagef("a thread is named by the id of the letter that started it: 32 hex digits", "bad --thread: %v", err)
		}
	}
	switch {
	case sent || to != "":
		f.Box = "sent"
	case received || from != "":
		f.Box = "received"
	}
	return f, nil
}

// listLine is one letter of a listing: id, direction and the other party,
// precedence, date, state and subject.
func listLine(l client.Listed) string {
	dir, state := "from", "not acknowledged"
	if l.Acknowledged {
		state = "acknowledged"
	}
	if l.Box == "sent" {
		dir, state = "to", l.State
		if l.Acknowledged {
			state += ", acknowledged"
		} else if l.Delivered {
			state += ", delivered"
		}
	}
	return fmt.Sprintf("%s  %-4s %-12s %-9s %s  %-25s %s", l.ID, dir, printable(l.Party, false), l.Precedence,
		l.At.Local().Format("2006-01-02 15:04"), state, printable(l.Subject, false))
}

func cmdShow(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "show", "show [--dir DIR] [--json] ID")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if fs.NArg() != 1 {
		return usagef("brief show ID", "show takes one letter id")
	}
	sh, err := p.Show(fs.Arg(0))
	if err != nil {
		return err
	}
	logs, logErr := p.LogRecords(ctx, sh.ID)
	var alarm *client.InconsistentLogError
	if errors.As(logErr, &alarm) {
		defer report(e.stderr, logErr)
	}
	if *fs.asJSON {
		out := struct {
			*client.Shown
			Log      []client.LogRecord `json:"log"`
			LogError string             `json:"log_error,omitempty"`
		}{sh, logs, ""}
		if logErr != nil {
			out.LogError = logErr.Error()
		}
		if err := printJSON(e.stdout, out); err != nil {
			return err
		}
	} else {
		printShown(e, sh)
		printLogRecords(e, logs, logErr)
	}
	if alarm != nil {
		return checkFailed{fmt.Errorf("the relay's log did not check out")}
	}
	return nil
}

// printShown prints a letter's header, text and receipts.
func printShown(e *env, sh *client.Shown) {
	w := e.stdout
	fmt.Fprintf(w, "letter %s  (%s)\n", sh.ID, sh.Box)
	row := func(name, value string) { fmt.Fprintf(w, "%-12s %s\n", name+":", value) }
	row("from", printable(sh.From, false))
	row("to", printable(sh.To, false))
	if sh.Office != "" {
		row("office", printable(sh.Office, false))
	}
	row("subject", printable(sh.Subject, false))
	row("precedence", sh.Precedence)
	row("seq", fmt.Sprint(sh.Seq))
	if sh.Kind != client.KindLetter {
		row("kind", string(sh.Kind))
	}
	if sh.Thread == sh.ID {
		row("thread", sh.Thread+" (this letter starts it)")
	} else {
		row("thread", sh.Thread)
	}
	if sh.ReplyTo != "" {
		row("reply to", sh.ReplyTo)
	}
	if sh.Box == "sent" {
		row("sealed", sh.Created.Local().Format(time.RFC1123))
		state := sh.State
		if sh.PostError != "" {
			state += " (" + printable(sh.PostError, false) + ")"
		}
		row("state", state)
	} else {
		row("created", sh.Created.Local().Format(time.RFC1123))
		row("opened", sh.OpenedAt.Local().Format(time.RFC1123))
	}
	fmt.Fprintln(w)
	if sh.NoText != "" {
		fmt.Fprintf(w, "[%s]\n", printable(sh.NoText, false))
	} else {
		printText(e, sh.Dir, sh.Parts)
	}
	fmt.Fprintln(w, "\nreceipts:")
	if len(sh.Receipts) == 0 {
		fmt.Fprintln(w, "  none yet")
	}
	for _, r := range sh.Receipts {
		check := "signature verified"
		if !r.Verified {
			check = "DOES NOT VERIFY: " + printable(r.Error, false)
		}
		fmt.Fprintf(w, "  %-13s %s  by %s, %s\n", r.Kind, r.Time.Local().Format("2006-01-02 15:04:05.000"), printable(r.Signer, false), check)
	}
}

// printLogRecords prints whether each of a letter's records is in the
// relay's log, or that the relay could not be asked.
func printLogRecords(e *env, logs []client.LogRecord, err error) {
	fmt.Fprintln(e.stdout, "\nthe relay's log:")
	for _, r := range logs {
		if r.Logged {
			fmt.Fprintf(e.stdout, "  %-13s leaf %d, inclusion proof verified\n", r.Record, r.Index)
		} else {
			fmt.Fprintf(e.stdout, "  %-13s not in the relay's log yet\n", r.Record)
		}
	}
	if errors.Is(err, client.ErrUnreachable) {
		fmt.Fprintln(e.stdout, "  not checked: the relay did not answer")
	} else if err != nil {
		fmt.Fprintf(e.stdout, "  not checked: %s\n", printable(err.Error(), false))
	}
	if err != nil {
		for _, h := range hints(err) {
			fmt.Fprintf(e.stderr, "brief: hint: %s\n", h)
		}
	}
}

const replyUsage = `reply [--dir DIR] [--precedence P] [--subject TEXT] (--body TEXT | --body-file FILE) [--attach FILE]... [--json] ID

Answers letter ID (received, or sent from this device): to the other
party, in the same thread, marked as the reply to it, with its precedence
and "Re: " and its subject unless given. It is sent as 'brief send' sends.`

func cmdReply(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "reply", replyUsage)
	subject := fs.String("subject", "", "the reply's `subject`; default \"Re: \" and the letter's")
	prec := fs.String("precedence", "", "FLASH, IMMEDIATE, PRIORITY or ROUTINE; default the letter's")
	c := newContentFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("brief reply ID --body TEXT", "reply takes one letter id")
	}
	if err := c.check("reply"); err != nil {
		return err
	}
	if fs.given("subject") && strings.TrimSpace(*subject) == "" {
		return usagef("leave --subject out for \"Re: \" and the letter's subject", "--subject is empty")
	}
	if _, err := envelope.ParseID(fs.Arg(0)); err != nil {
		return usagef("a letter id is 32 hex digits; 'brief list' shows them", "bad letter id: %v", err)
	}
	var p envelope.Precedence
	if *prec != "" {
		var err error
		if p, err = envelope.ParsePrecedence(*prec); err != nil {
			return err
		}
	}
	party, err := loadParty(e, *fs.dir)
	if err != nil {
		return err
	}
	defer party.Close()
	o, err := party.Reply(fs.Arg(0))
	if err != nil {
		return err
	}
	if fs.given("subject") {
		o.Subject = *subject
	}
	if *prec != "" {
		o.Precedence = p
	}
	if err := c.read(e, &o); err != nil {
		return err
	}
	return sendLetter(ctx, e, party, *fs.asJSON, o)
}
