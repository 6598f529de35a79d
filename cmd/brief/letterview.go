package main

import (
	"encoding/json"
	"fmt"
	"time"

	"brieftraeger/client"
	"brieftraeger/internal/api"
)

// allUsage is the help of the --all flag of read, watch and receipts.
const allUsage = "also show heartbeats and test letters, which devices send on their own"

// readView is how read and watch show the letters they receive.
type readView struct {
	asJSON bool
	all    bool // heartbeats and test letters too (--all)
	byID   bool // asked for by id: a letter opened before is shown in full
	// gaps, if not nil, warns of each missing letter once for as long as
	// it lives (brief watch, read --follow); nil warns of every gap at
	// each look.
	gaps *gapWarner
	// refused, if not nil, is told of each letter the relay delivered
	// that this device refused (brief watch raises its alarm).
	refused func(m api.MailboxEntry, err error)
}

// readItem is a received letter in --json output: with its kind, and
// whether this command opened it (new) or found it opened before.
type readItem struct {
	*client.Received
	Kind client.Kind `json:"kind"`
	New  bool        `json:"new"`
}

// item returns rec as --json shows it, or nil if it is not shown: a
// heartbeat or a test letter, unless --all or asked for by id.
func (v readView) item(p *client.Party, rec *client.Received) *readItem {
	k := p.KindOf(rec)
	if k.System() && !v.all && !v.byID {
		return nil
	}
	return &readItem{Received: rec, Kind: k, New: rec.New}
}

// show prints a letter that Receive returned: a heartbeat or a test letter
// only if item shows it; a letter opened before in one line, "already
// opened", unless asked for by id; with --json one object per line (read
// --follow, watch).
func (v readView) show(e *env, p *client.Party, rec *client.Received) {
	it := v.item(p, rec)
	switch {
	case it == nil:
	case v.asJSON:
		b, _ := json.Marshal(it)
		fmt.Fprintf(e.stdout, "%s\n", b)
	case !rec.New && !v.byID && !it.Kind.System():
		fmt.Fprintf(e.stdout, "letter %s  %s  from %s/%s  seq %d  %s\n\n", rec.ID, rec.Precedence, printable(rec.From, false),
			printable(rec.Device, false), rec.Seq, alreadyOpened(rec))
	default:
		printLetter(e, p, rec)
	}
}

// alreadyOpened says when a letter read again was opened.
func alreadyOpened(rec *client.Received) string {
	return "already opened at " + rec.OpenedAt.Local().Format(time.RFC1123)
}
