package client

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"brieftraeger/envelope"
	"brieftraeger/internal/deadline"
)

// The letters owed an acknowledgement. A letter that this device opened
// and that a person of this party has not acknowledged is pending: it is
// owed by its acknowledgement deadline. brief watch asks PendingLetters on
// every tick: it is one indexed query of the letters table's columns
// (box, kind, receipts), not a read of the archive.

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
	// AckUnsent says a person acknowledged it here, but the acknowledged
	// receipt has not reached the relay yet: it is still owed.
	AckUnsent bool `json:"ack_unsent,omitempty"`
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

// PendingLetters lists the letters this device opened that no person has
// acknowledged, the most urgent precedence first and, within one, the
// longest waiting first, each with its acknowledgement deadline at the
// party's clock.
func (p *Party) PendingLetters(d AckDeadlines) ([]Pending, error) {
	recs, err := receivedIndexed(p.db, "letters_pending", `kind = 'letter' AND (receipts & 8 = 0 OR state = 'unsent')`, `precedence, at`)
	if err != nil {
		return nil, fmt.Errorf("failed to read the letters pending: %w", err)
	}
	now := p.now()
	out := make([]Pending, 0, len(recs))
	for _, rec := range recs {
		unsent := slices.Contains(rec.Unsent, envelope.Acknowledged)
		if acknowledged(rec.Receipts) && !unsent {
			continue // only its delivered receipt waits to be sent
		}
		prec, _ := envelope.ParsePrecedence(rec.Precedence) // checked when it was opened
		due := rec.OpenedAt.Add(d.Of(prec))
		out = append(out, Pending{ID: rec.ID, From: rec.From, Office: rec.Office, Subject: rec.Subject, Precedence: rec.Precedence,
			OpenedAt: rec.OpenedAt, Due: due, WaitedS: int64(now.Sub(rec.OpenedAt) / time.Second), Overdue: now.After(due), AckUnsent: unsent})
	}
	return out, nil
}

// byUrgency compares two precedences by name, FLASH first.
func byUrgency(a, b string) int {
	pa, _ := envelope.ParsePrecedence(a)
	pb, _ := envelope.ParsePrecedence(b)
	return cmp.Compare(pa, pb)
}
