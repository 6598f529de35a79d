package client

import (
	"fmt"
	"strings"
	"time"

	"brieftraeger/envelope"
)

// ListFilter selects letters for List. The zero value lists the 100 most
// recent letters people wrote, sent and received.
type ListFilter struct {
	Box    string // "sent" or "received"; "" for both
	Party  string // the other party: the sender of a received letter, the recipient of a sent one
	Thread string // a thread: the id of the letter that started it
	Search string // words that the subject or the body must hold, each of them
	All    bool   // heartbeats and test letters too
	Limit  int    // at most this many, newest first; 0 means 100
}

// Listed is one letter in a listing.
type Listed struct {
	Box          string    `json:"box"` // "sent" or "received"
	ID           string    `json:"id"`
	Party        string    `json:"party"` // the other party
	Seq          uint64    `json:"seq"`
	Precedence   string    `json:"precedence"`
	Kind         Kind      `json:"kind"`
	Subject      string    `json:"subject"`
	Thread       string    `json:"thread"`
	At           time.Time `json:"at"`    // sealed (sent) or opened (received)
	State        string    `json:"state"` // sent: queued, posted, refused or failed; received: opened
	Delivered    bool      `json:"delivered"`
	Acknowledged bool      `json:"acknowledged"`
}

// List returns the letters of the local archive that f selects, newest
// first, from the records database alone (no letter file is read).
func (p *Party) List(f ListFilter) ([]Listed, error) {
	where := []string{"1"}
	var args []any
	if f.Box != "" {
		if f.Box != boxSent && f.Box != boxReceived {
			return nil, fmt.Errorf("no box %q: sent or received", f.Box)
		}
		where, args = append(where, "box = ?"), append(args, f.Box)
	}
	if f.Party != "" {
		where, args = append(where, "party = ?"), append(args, f.Party)
	}
	if f.Thread != "" {
		where, args = append(where, "thread = ?"), append(args, f.Thread)
	}
	if !f.All {
		where, args = append(where, "kind = ?"), append(args, string(KindLetter))
	}
	if q := matchQuery(f.Search); q != "" {
		where, args = append(where, "n IN (SELECT rowid FROM search WHERE search MATCH ?)"), append(args, q)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := p.db.Query(`SELECT box, id, party, seq, precedence, kind, subject, thread, at, state, receipts FROM letters
		WHERE `+strings.Join(where, " AND ")+` ORDER BY at DESC, n DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("failed to list letters: %w", err)
	}
	defer rows.Close()
	out := []Listed{}
	for rows.Next() {
		var l Listed
		var prec, receipts int
		var at int64
		if err := rows.Scan(&l.Box, &l.ID, &l.Party, &l.Seq, &prec, &l.Kind, &l.Subject, &l.Thread, &at, &l.State, &receipts); err != nil {
			return nil, err
		}
		l.Precedence, l.At = envelope.Precedence(prec).String(), time.Unix(0, at)
		l.Delivered, l.Acknowledged = receipts&hasDelivered != 0, receipts&hasAcknowledged != 0
		out = append(out, l)
	}
	return out, rows.Err()
}
