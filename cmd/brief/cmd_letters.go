package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/api"
	"brieftraeger/letter"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func cmdSend(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "send", "send [--dir DIR] --to PARTY --subject TEXT [--precedence P] (--body TEXT | --body-file FILE) [--attach FILE]... [--json]")
	to := fs.String("to", "", "recipient `party`")
	subject := fs.String("subject", "", "the letter's `subject`")
	prec := fs.String("precedence", "ROUTINE", "FLASH, IMMEDIATE, PRIORITY or ROUTINE")
	c := newContentFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *to == "" || *subject == "" || fs.NArg() > 0 {
		return usagef("brief send --to PARTY --subject TEXT --body TEXT", "send needs --to and --subject")
	}
	if err := c.check("send"); err != nil {
		return err
	}
	if fs.given("body") && fs.given("body-file") {
		return usagef("", "give --body or --body-file, not both")
	}
	p, err := envelope.ParsePrecedence(*prec)
	if err != nil {
		return err
	}
	o := client.Outgoing{To: *to, Subject: *subject, Precedence: p}
	if err := c.read(e, &o); err != nil {
		return err
	}
	party, err := loadParty(e, *fs.dir)
	if err != nil {
		return err
	}
	defer party.Close()
	return sendLetter(ctx, e, party, *fs.asJSON, o)
}

// contentFlags are the flags of a letter's body and attachments, of send
// and reply.
type contentFlags struct {
	fs       *partyFlags
	body     *string
	bodyFile *string
	attach   multiFlag
}

func newContentFlags(fs *partyFlags) *contentFlags {
	c := &contentFlags{fs: fs,
		body:     fs.String("body", "", "the letter's `text`"),
		bodyFile: fs.String("body-file", "", "read the letter's text from `file` (- for standard input)")}
	fs.Var(&c.attach, "attach", "attach `file` (repeatable)")
	return c
}

// check refuses a letter without --body or --body-file: an empty letter
// needs an empty --body.
func (c *contentFlags) check(cmd string) error {
	if !c.fs.given("body") && !c.fs.given("body-file") {
		return usagef("give the text with --body TEXT or --body-file FILE; an empty letter needs --body ''", "%s needs --body or --body-file", cmd)
	}
	return nil
}

// read sets o's body, attachments and progress reporter from the flags.
func (c *contentFlags) read(e *env, o *client.Outgoing) error {
	text, err := bodyText(e, *c.body, *c.bodyFile)
	if err != nil {
		return err
	}
	atts, err := attachments(c.attach)
	if err != nil {
		return err
	}
	o.Body, o.Attachments, o.Progress = text, atts, progress(e, atts)
	return nil
}

// sendLetter sends o and reports it: posted on stdout, or queued in the
// outbox (reportQueued).
func sendLetter(ctx context.Context, e *env, party *client.Party, asJSON bool, o client.Outgoing) error {
	sent, posted, err := party.Send(ctx, o)
	var queued *client.QueuedError
	if errors.As(err, &queued) {
		return reportQueued(e, asJSON, sent, queued)
	} else if err != nil {
		return err
	}
	if asJSON {
		out := map[string]any{"id": sent.ID, "to": sent.To, "seq": sent.Seq, "precedence": sent.Precedence,
			"size": sent.Size, "state": client.StatePosted, "posted_at": posted.Time, "relay_seq": posted.Seq, "posted_receipt_verified": true}
		if sent.ReplyTo != "" {
			out["thread"], out["reply_to"] = sent.Thread, sent.ReplyTo
		}
		return printJSON(e.stdout, out)
	}
	fmt.Fprintf(e.stdout, "posted %s to %s (seq %d, %s, %d bytes sealed); relay receipt verified\n", sent.ID, sent.To, sent.Seq, sent.Precedence, sent.Size)
	return nil
}

// progress returns a reporter that prints every tenth of the way to stderr
// when the attachments are large enough for it to matter.
func progress(e *env, atts []letter.Attachment) func(string, int64, int64) {
	var total int64
	for _, a := range atts {
		total += a.Size
	}
	if total < 16<<20 {
		return nil
	}
	last := map[string]int64{}
	return func(stage string, done, total int64) {
		tenth := done * 10 / max(total, 1)
		if tenth > last[stage] || done == total {
			last[stage] = tenth
			fmt.Fprintf(e.stderr, "brief: %s: %d%% (%d of %d MiB)\n", stage, done*100/max(total, 1), done>>20, total>>20)
		}
	}
}

func bodyText(e *env, body, file string) ([]byte, error) {
	switch {
	case file == "-":
		return io.ReadAll(io.LimitReader(e.stdin, 16<<20))
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("failed to read body: %w", err)
		}
		return b, nil
	}
	return []byte(body), nil
}

func attachments(files []string) ([]letter.Attachment, error) {
	var out []letter.Attachment
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("failed to read attachment: %w", err)
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("attachment %s is not a regular file", f)
		}
		mt := mime.TypeByExtension(filepath.Ext(f))
		if mt == "" {
			mt = "application/octet-stream"
		}
		out = append(out, letter.Attachment{Name: filepath.Base(f), MediaType: mt, Size: st.Size(),
			Open: func() (io.ReadCloser, error) { return os.Open(f) }})
	}
	return out, nil
}

func cmdInbox(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "inbox", "inbox [--dir DIR] [--json]")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	list, err := p.Mailbox(ctx)
	if err != nil {
		return err
	}
	if *fs.asJSON {
		return printJSON(e.stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stdout, "no letters waiting")
	}
	for _, m := range list {
		fmt.Fprintf(e.stdout, "%s  %-9s  from %-12s %8d bytes  posted %s\n", printable(m.ID, false), printable(m.Precedence, false),
			printable(m.From, false), m.Size, time.UnixMilli(m.PostedAt).Format(time.DateTime))
	}
	return nil
}

func cmdRead(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "read", "read [--dir DIR] [--json] [--all] [--follow | ID...]")
	follow := fs.Bool("follow", false, "after the waiting letters, keep the relay's push stream open and read each letter as it arrives, until interrupted; with --json, one object per line")
	all := fs.Bool("all", false, allUsage)
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	// A read waits for a one-off read; a watch or a following read holds
	// the lock for as long as it runs, and is named instead.
	what := "brief read"
	if *follow {
		what = "brief read --follow"
	}
	unlock, err := p.LockReading(ctx, what, func(busy *client.ReaderBusyError) bool {
		if busy.Command != "brief read" {
			return false
		}
		fmt.Fprintf(e.stderr, "brief: waiting: %v\n", busy)
		return true
	})
	if err != nil {
		return err
	}
	defer unlock()
	v := readView{asJSON: *fs.asJSON, all: *all, byID: fs.NArg() > 0}
	if *follow {
		if fs.NArg() > 0 {
			return usagef("", "read --follow takes no letter ids")
		}
		return readFollow(ctx, e, p, v, nil, nil)
	}
	ids := fs.Args()
	if len(ids) == 0 {
		list, err := p.Mailbox(ctx)
		if err != nil {
			return err
		}
		for _, m := range list {
			ids = append(ids, m.ID)
		}
	}
	out := []*readItem{}
	var refused, hidden int
	var alarm error
	for _, id := range ids {
		// One letter that fails its checks must not hold up the others.
		rec, err := p.Receive(ctx, id)
		if err != nil {
			refused++
			report(e.stderr, err)
			continue
		}
		if err := p.CheckGossip(ctx, rec); err != nil {
			report(e.stderr, err)
			alarm = err
		}
		if it := v.item(p, rec); it == nil {
			hidden++
		} else if *fs.asJSON {
			out = append(out, it)
		} else {
			v.show(e, p, rec)
		}
	}
	if *fs.asJSON {
		if err := printJSON(e.stdout, out); err != nil {
			return err
		}
	} else if len(ids) == 0 {
		fmt.Fprintln(e.stdout, "no letters waiting")
	} else if hidden == len(ids) {
		fmt.Fprintf(e.stdout, "no letters waiting; %d heartbeats and test letters read (--all shows them)\n", hidden)
	}
	warnGaps(e, p, "")
	if alarm != nil {
		return fmt.Errorf("the letters were read, but the relay's log did not check out: %w", alarm)
	}
	if refused > 0 {
		return fmt.Errorf("%d of %d letters refused; nothing was archived or acknowledged for them", refused, len(ids))
	}
	return nil
}

// readFollow reads what waits, then each letter the relay pushes, the most
// urgent first (client.Follow), until ctx ends, and shows each as v says.
// A letter that fails its checks is reported and skipped. onAlarm, if not
// nil, is called with each alarm about the relay's log; onLetter, if not
// nil, with each letter read.
func readFollow(ctx context.Context, e *env, p *client.Party, v readView, onAlarm func(from string, err error), onLetter func(*client.Received)) error {
	// read receives the letter m names: from the event itself if it
	// carries the envelope, else fetched.
	read := func(m api.MailboxEntry) {
		// An interrupt stops the following, not the letter in hand: it is
		// archived and its delivered receipt sent before brief exits.
		rec, err := p.ReceiveEvent(context.WithoutCancel(ctx), m)
		if err == nil {
			if gerr := p.CheckGossip(context.WithoutCancel(ctx), rec); gerr != nil {
				report(e.stderr, gerr)
				var alarm *client.InconsistentLogError
				if onAlarm != nil && errors.As(gerr, &alarm) {
					onAlarm(rec.From, gerr)
				}
			}
		}
		switch {
		case err != nil:
			report(e.stderr, err)
			if v.refused != nil && errors.As(err, new(*client.LetterRefusedError)) {
				v.refused(m, err)
			}
		default:
			v.show(e, p, rec)
		}
		if err == nil && onLetter != nil {
			onLetter(rec)
		}
	}
	gaps := v.gaps
	if gaps == nil {
		gaps = &gapWarner{}
	}
	err := p.Follow(ctx, func() { gaps.warn(e, p) }, read)
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		err = errors.New("the relay closed the event stream")
	}
	return err
}

// warnGaps prints to stderr a warning for each letter from party from (or
// from any party, if from is empty) that has not arrived although a later
// one from the same sending device has.
func warnGaps(e *env, p *client.Party, from string) {
	(&gapWarner{}).warnFrom(e, p, from)
}

// gapWarner warns of each missing letter once: a long-running command
// looks again each time it has read what waits, and a warning repeated
// each time would drown out the next one. onMissing, if not nil, is also
// told of each.
type gapWarner struct {
	seen      map[string]bool
	onMissing func(g client.Gap, line string)
}

func (w *gapWarner) warn(e *env, p *client.Party) { w.warnFrom(e, p, "") }

func (w *gapWarner) warnFrom(e *env, p *client.Party, from string) {
	gaps, err := p.GapReport(from)
	if err != nil {
		fmt.Fprintf(e.stderr, "brief: warning: could not check for missing letters: %v\n", err)
		return
	}
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	for _, g := range gaps {
		for _, line := range g.Lines() {
			if w.seen[line] {
				continue
			}
			w.seen[line] = true
			fmt.Fprintf(e.stderr, "brief: warning: %s\n", printable(line, false))
			if w.onMissing != nil {
				w.onMissing(g, line)
			}
		}
	}
}

// printLetter prints an opened letter, marked if it was opened before; a
// heartbeat or a test letter (exactly one, client.Kind) takes one line.
func printLetter(e *env, p *client.Party, rec *client.Received) {
	if hb, err := p.HeartbeatOf(rec); err == nil && hb != nil {
		fmt.Fprintf(e.stdout, "heartbeat %s  from %s/%s  seq %d  sent %s  every %s\n", rec.ID, rec.From, rec.Device, rec.Seq,
			hb.SentAt.Local().Format("15:04:05.000"), hb.Interval())
		return
	}
	if tl, err := p.TestLetterOf(rec); err == nil && tl != nil {
		fmt.Fprintf(e.stdout, "test letter %s  from %s/%s  seq %d  sent %s  acknowledged\n", rec.ID, rec.From, rec.Device, rec.Seq,
			tl.SentAt.Local().Format("15:04:05.000"))
		return
	}
	status := "signature verified against the roster of " + rec.From + "; delivered receipt sent"
	if !rec.New {
		status = alreadyOpened(rec) + "; signature verified against the roster of " + rec.From + " then"
	}
	fmt.Fprintf(e.stdout, "letter %s  %s  from %s/%s  seq %d\nsubject: %s\ndate:    %s\n%s\n\n",
		rec.ID, rec.Precedence, rec.From, rec.Device, rec.Seq, printable(rec.Subject, false), rec.Created.Local().Format(time.RFC1123), status)
	printText(e, p.LetterDir(rec.ID), rec.Parts)
	fmt.Fprintln(e.stdout)
}

// printText prints an opened letter's body (a screenful at most,
// printBody) and its attachments with their paths; its files are in dir.
func printText(e *env, dir string, parts []client.ReceivedPart) {
	if len(parts) == 0 {
		return
	}
	printBody(e.stdout, filepath.Join(dir, parts[0].Path))
	for _, part := range parts[1:] {
		if part.Checkpoint() {
			continue // the sender's view of the relay's log, checked by CheckGossip
		}
		fmt.Fprintf(e.stdout, "attachment: %s (%s, %d bytes) %s\n", printable(part.Name, false), printable(part.MediaType, false),
			part.Size, printable(filepath.Join(dir, part.Path), false))
	}
}

func cmdAck(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "ack", "ack [--dir DIR] [--json] ID")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if fs.NArg() != 1 {
		return usagef("", "ack takes one letter id")
	}
	rec, err := p.Ack(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	if *fs.asJSON {
		return printJSON(e.stdout, map[string]any{"id": rec.ID, "acknowledged": true})
	}
	fmt.Fprintf(e.stdout, "acknowledged %s from %s\n", rec.ID, rec.From)
	return nil
}

// receiptView is one sent letter and its verified receipts.
type receiptView struct {
	ID           string            `json:"id"`
	To           string            `json:"to"`
	Subject      string            `json:"subject"`
	Kind         client.Kind       `json:"kind"`
	Posted       *time.Time        `json:"posted,omitempty"`
	Delivered    *time.Time        `json:"delivered,omitempty"`
	Acknowledged *time.Time        `json:"acknowledged,omitempty"`
	Signers      map[string]string `json:"signers"`
	PostError    string            `json:"post_error,omitempty"`
}

func cmdReceipts(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "receipts", "receipts [--dir DIR] [--json] [--all] [--set-aside] [ID...]")
	all := fs.Bool("all", false, allUsage+" (letters asked for by id are always shown)")
	setAside := fs.Bool("set-aside", false, "list every receipt set aside so far (it did not verify, or named no letter of this device), instead of the letters")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if *setAside {
		return printSetAside(e, p, *fs.asJSON)
	}
	_, refused, err := p.CollectReceiptsAndRefusals(ctx)
	for _, r := range refused {
		fmt.Fprintf(e.stderr, "brief: set aside receipt %d (%s %s): %s\n", r.Seq, printable(r.Kind, false), printable(r.ID, false), printable(r.Reason, false))
	}
	if err != nil {
		return err
	}
	ids := fs.Args()
	if len(ids) == 0 {
		if ids, err = p.SentIDs(); err != nil {
			return err
		}
	}
	views := []receiptView{}
	for _, id := range ids {
		v, err := viewReceipts(p, id)
		if err != nil {
			return err
		}
		if v.Kind.System() && !*all && fs.NArg() == 0 {
			continue
		}
		views = append(views, v)
	}
	if *fs.asJSON {
		return printJSON(e.stdout, views)
	}
	for _, v := range views {
		fmt.Fprintf(e.stdout, "%s to %s: %q\n", v.ID, v.To, v.Subject)
		for _, step := range []struct {
			name string
			at   *time.Time
		}{{"posted", v.Posted}, {"delivered", v.Delivered}, {"acknowledged", v.Acknowledged}} {
			if step.at == nil && step.name == "posted" && v.PostError != "" {
				fmt.Fprintf(e.stdout, "  %-13s (failed: %s)\n", step.name, printable(v.PostError, false))
				continue
			}
			if step.at == nil {
				fmt.Fprintf(e.stdout, "  %-13s (not yet)\n", step.name)
				continue
			}
			fmt.Fprintf(e.stdout, "  %-13s %s  by %s, signature verified\n", step.name, step.at.Local().Format("2006-01-02 15:04:05.000"), v.Signers[step.name])
		}
	}
	return nil
}

func viewReceipts(p *client.Party, id string) (receiptView, error) {
	s, err := p.Sent(id)
	if err != nil {
		return receiptView{}, err
	}
	v := receiptView{ID: s.ID, To: s.To, Subject: s.Subject, Kind: s.Kind, Signers: map[string]string{}, PostError: s.PostError}
	for _, raw := range s.Receipts {
		rc, err := envelope.ParseReceipt(raw)
		if err != nil {
			return v, err
		}
		if err := p.VerifyReceipt(s, rc); err != nil {
			return v, err
		}
		t := rc.Time
		switch rc.Kind {
		case envelope.Posted:
			v.Posted = &t
		case envelope.Delivered:
			v.Delivered = &t
		case envelope.Acknowledged:
			v.Acknowledged = &t
		}
		v.Signers[rc.Kind.String()] = rc.Party + "/" + rc.Signer
	}
	return v, nil
}

// printSetAside lists every receipt set aside, in the relay's order.
func printSetAside(e *env, p *client.Party, asJSON bool) error {
	list, err := p.RefusedReceipts()
	if err != nil {
		return err
	}
	if asJSON {
		if list == nil {
			list = []client.Refused{}
		}
		return printJSON(e.stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stdout, "no receipts set aside")
	}
	for _, r := range list {
		fmt.Fprintf(e.stdout, "receipt %d  %s %s: %s\n", r.Seq, printable(r.Kind, false), printable(r.ID, false), printable(r.Reason, false))
	}
	return nil
}
