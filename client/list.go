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
//
// It asks one query per box and kind, each newest first along the index
// letters_list (box, kind, at) and cut at the limit, and merges them: an
// archive of 100,000 letters, and any number of heartbeats, is listed in
// about the time of its newest letters (docs/BENCHMARKS.md). A search
// for a word few letters hold looks those letters up by their row; one
// for a word many hold walks the index newest first and keeps the
// letters that hold it.
func (p *Party) List(f ListFilter) ([]Listed, error) {
	query, args, err := p.listQuery(f)
	if err != nil {
		return nil, err
	}
	out := []Listed{}
	rows, err := p.db.Query(query, args...)
	if err != nil {
		return nil, fmt.Errorf("failed to list letters: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var l Listed
		var n, at int64
		var prec, receipts int
		if err := rows.Scan(&n, &l.Box, &l.ID, &l.Party, &l.Seq, &prec, &l.Kind, &l.Subject, &l.Thread, &at, &l.State, &receipts); err != nil {
			return nil, err
		}
		l.Precedence, l.At = envelope.Precedence(prec).String(), time.Unix(0, at)
		l.Delivered, l.Acknowledged = receipts&hasDelivered != 0, receipts&hasAcknowledged != 0
		out = append(out, l)
	}
	return out, rows.Err()
}

// listQuery returns List's query for f and its arguments: one select per
// box and kind (the kinds are few and fixed), merged. The count that picks
// the plan is asked apart from the listing (a transaction would take
// the write lock, _txlock): what changes meanwhile changes a plan, not
// the answer.
func (p *Party) listQuery(f ListFilter) (string, []any, error) {
	boxes := []string{boxSent, boxReceived}
	if f.Box != "" {
		if f.Box != boxSent && f.Box != boxReceived {
			return "", nil, fmt.Errorf("no box %q: sent or received", f.Box)
		}
		boxes = []string{f.Box}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	where, args, hint, err := p.listWhere(f)
	if err != nil {
		return "", nil, err
	}
	var selects []string
	var all []any
	kinds := []Kind{KindLetter}
	if f.All {
		kinds = []Kind{KindLetter, KindHeartbeat, KindTestLetter}
	}
	for _, box := range boxes {
		for _, kind := range kinds {
			selects = append(selects, `SELECT * FROM (SELECT n, box, id, party, seq, precedence, kind, subject, thread, at, state, receipts
				FROM letters `+hint+` WHERE box = ? AND kind = ?`+where+` ORDER BY at DESC, n DESC LIMIT ?)`)
			all = append(append(append(all, box, string(kind)), args...), limit)
		}
	}
	return strings.Join(selects, " UNION ALL ") + ` ORDER BY at DESC, n DESC LIMIT ?`, append(all, limit), nil
}

// listWhere returns the conditions of f on a box's letters of one kind
// (" AND …"), their arguments, and the plan: along letters_thread for a
// thread (a few letters); by row for a search that few letters match;
// else along letters_list newest first, keeping the letters that match
// until the limit.
func (p *Party) listWhere(f ListFilter) (where string, args []any, hint string, err error) {
	hint = "INDEXED BY letters_list"
	if f.Party != "" {
		where, args = where+" AND party = ?", append(args, f.Party)
	}
	if f.Thread != "" {
		// letters_thread holds the letters that name a thread (thread != '').
		where, args, hint = where+" AND thread = ? AND thread != ''", append(args, f.Thread), "INDEXED BY letters_thread"
	}
	if q := matchQuery(f.Search); q != "" {
		where, args = where+" AND n IN (SELECT rowid FROM search WHERE search MATCH ?)", append(args, q)
		var matches int
		if err := p.db.QueryRow(`SELECT count(*) FROM search WHERE search MATCH ?`, q).Scan(&matches); err != nil {
			return "", nil, "", fmt.Errorf("failed to search letters: %w", err)
		}
		if f.Thread == "" && matches <= fewMatches {
			hint = "NOT INDEXED" // by row: the rows of the letters that match
		}
	}
	return where, args, hint, nil
}

// fewMatches is the most letters a search finds that List looks up one by
// one, by row; for more it walks the letters newest first.
const fewMatches = 5000
