package client

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"brieftraeger/envelope"
	"brieftraeger/internal/deadline"
)

// The letters owed an acknowledgement. A letter that this device opened
// and that a person of this party has not acknowledged is pending: it is
// owed by its acknowledgement deadline. brief watch asks PendingLetters on
// every tick, so pending.json lists the ids of the letters for a person
// (not heartbeats or test letters) with no acknowledged receipt when last
// looked at. Receive lists a letter before it sends the delivered receipt,
// so a crash in between leaves the letter in the relay's mailbox, and the
// next Receive lists it; PendingLetters drops the letters acknowledged
// since.

const pendingFile = "pending.json"

// AckDeadlines are the acknowledgement deadlines per precedence (package
// deadline); the zero value means the defaults.
type AckDeadlines = deadline.AckDeadlines

// ParseAckDeadlines parses "FLASH=5m,ROUTINE=2h" (any subset); the others
// keep their defaults.
func ParseAckDeadlines(s string) (AckDeadlines, error) { return deadline.ParseAck(s) }

// Pending is a letter this device opened that no person of this party has
// acknowledged yet.
type Pending struct {
	ID         string    `json:"id"`
	From       string    `json:"from"`
	Office     string    `json:"office,omitempty"`
	Subject    string    `json:"subject"`
	Precedence string    `json:"precedence"`
	OpenedAt   time.Time `json:"opened_at"`
	Due        time.Time `json:"due"`      // OpenedAt plus the acknowledgement deadline
	WaitedS    int64     `json:"waited_s"` // seconds since OpenedAt, at the party's clock
	Overdue    bool      `json:"overdue"`  // past Due
}

// ForAPerson reports whether an opened letter is for a person to read and
// acknowledge: not a heartbeat or a test letter, which the device handles
// by itself (KindOf).
func (p *Party) ForAPerson(rec *Received) bool { return p.KindOf(rec) == KindLetter }

// acknowledged reports whether receipts (a letter's, received or sent)
// hold an acknowledged one.
func acknowledged(receipts [][]byte) bool {
	return receiptTimes(receipts)[envelope.Acknowledged] != nil
}

// notePending lists an opened letter in pending.json if it is for a person
// and not acknowledged. Receive calls it before the delivered receipt.
func (p *Party) notePending(rec *Received) error {
	if acknowledged(rec.Receipts) || !p.ForAPerson(rec) {
		return nil
	}
	err := p.locked(func() error { return p.editList(pendingFile, p.scanPending, addID(rec.ID)) })
	if err != nil {
		return fmt.Errorf("failed to list letter %s as pending: %w", rec.ID, err)
	}
	return nil
}

// scanPending reads every letter in the archive, for a folder that has no
// pending.json yet (or a damaged one). A record that does not read is left
// out, with a warning.
func (p *Party) scanPending() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(p.dir, "archive"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		rec, err := p.Letter(e.Name())
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			p.log.Warn("an archived letter's record does not read; it is left out of pending.json", "letter", e.Name(), "err", err)
			continue
		}
		if !acknowledged(rec.Receipts) && p.ForAPerson(rec) {
			out = append(out, rec.ID)
		}
	}
	return out, nil
}

// PendingLetters lists the letters this device opened that no person has
// acknowledged, the most urgent precedence first and, within one, the
// longest waiting first, each with its acknowledgement deadline at the
// party's clock. It reads only the letters pending.json lists, not the
// whole archive, and drops those acknowledged since.
func (p *Party) PendingLetters(d AckDeadlines) ([]Pending, error) {
	recs, err := keepIDs(p, pendingFile, p.scanPending, p.Letter, func(rec *Received) bool { return !acknowledged(rec.Receipts) })
	if err != nil {
		return nil, err
	}
	now := p.now()
	out := make([]Pending, 0, len(recs))
	for _, rec := range recs {
		prec, _ := envelope.ParsePrecedence(rec.Precedence) // checked when it was opened
		due := rec.OpenedAt.Add(d.Of(prec))
		out = append(out, Pending{ID: rec.ID, From: rec.From, Office: rec.Office, Subject: rec.Subject, Precedence: rec.Precedence,
			OpenedAt: rec.OpenedAt, Due: due, WaitedS: int64(now.Sub(rec.OpenedAt) / time.Second), Overdue: now.After(due)})
	}
	slices.SortStableFunc(out, func(a, b Pending) int {
		return cmp.Or(byUrgency(a.Precedence, b.Precedence), a.OpenedAt.Compare(b.OpenedAt))
	})
	return out, nil
}

// byUrgency compares two precedences by name, FLASH first.
func byUrgency(a, b string) int {
	pa, _ := envelope.ParsePrecedence(a)
	pb, _ := envelope.ParsePrecedence(b)
	return cmp.Compare(pa, pb)
}
