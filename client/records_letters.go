package client

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode"

	"brieftraeger/envelope"
)

// The boxes of the letters table.
const (
	boxSent     = "sent"
	boxReceived = "received"
)

// Bits of letters.receipts: the kinds of receipt a letter's record holds.
const (
	hasPosted       = 1 << envelope.Posted
	hasDelivered    = 1 << envelope.Delivered
	hasAcknowledged = 1 << envelope.Acknowledged
)

// receiptBits returns the letters.receipts bits of a record's receipts.
func receiptBits(raw [][]byte) int {
	bits := 0
	for _, b := range raw {
		if rc, err := envelope.ParseReceipt(b); err == nil {
			bits |= 1 << rc.Kind
		}
	}
	return bits
}

// letterRow is the columns of one row of letters.
type letterRow struct {
	box, id, party  string
	seq             uint64
	precedence      string
	kind            Kind
	subject, thread string
	at              int64
	state           string
	receipts        int
	record          any
}

// putLetter records a row of letters: a new letter is inserted, and the
// subject and body (searchable) go into the search index; a letter
// recorded before has its kind, state, receipts and record replaced.
func putLetter(q querier, r letterRow, searchable string) error {
	rec, err := json.Marshal(r.record)
	if err != nil {
		return err
	}
	prec, err := envelope.ParsePrecedence(r.precedence)
	if err != nil {
		return err
	}
	var n int64
	err = q.QueryRow(`INSERT INTO letters (box, id, party, seq, precedence, kind, subject, thread, at, state, receipts, record)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (box, id) DO NOTHING RETURNING n`,
		r.box, r.id, r.party, int64(r.seq), int(prec), string(r.kind), r.subject, r.thread, r.at, r.state, r.receipts, rec).Scan(&n)
	switch {
	case err == nil:
		return indexLetter(q, n, r.subject, searchable)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("failed to record letter %s: %w", r.id, err)
	}
	_, err = q.Exec(`UPDATE letters SET kind = ?, state = ?, receipts = ?, record = ? WHERE box = ? AND id = ?`,
		string(r.kind), r.state, r.receipts, rec, r.box, r.id)
	if err != nil {
		return fmt.Errorf("failed to record letter %s: %w", r.id, err)
	}
	return nil
}

// indexLetter adds a letter's subject and body to the search index.
func indexLetter(q querier, n int64, subject, body string) error {
	if _, err := q.Exec(`INSERT INTO search (rowid, subject, body) VALUES (?, ?, ?)`, n, subject, body); err != nil {
		return fmt.Errorf("failed to index letter: %w", err)
	}
	return nil
}

// getLetter reads the record of letter id in box into v; the error wraps
// os.ErrNotExist if there is none.
func getLetter(q querier, box, id string, v any) error {
	var rec []byte
	err := q.QueryRow(`SELECT record FROM letters WHERE box = ? AND id = ?`, box, id).Scan(&rec)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("no %s letter %s: %w", box, id, os.ErrNotExist)
	} else if err != nil {
		return err
	}
	return json.Unmarshal(rec, v)
}

// selectLetters reads the records of box's letters that match where (an
// SQL condition on the letters columns, with args), in the order given,
// and hands each to fn.
func selectLetters(q querier, index, where, order string, args []any, fn func(rec []byte) error) error {
	from := `letters`
	if index != "" {
		// The query fails, rather than read every letter, if the index
		// cannot serve it.
		from += ` INDEXED BY ` + index
	}
	query := `SELECT record FROM ` + from + ` WHERE ` + where
	if order != "" {
		query += ` ORDER BY ` + order
	}
	rows, err := q.Query(query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var rec []byte
		if err := rows.Scan(&rec); err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return rows.Err()
}

// sentWhere returns the sent letters that match where.
func sentWhere(q querier, where, order string, args ...any) ([]*SentLetter, error) {
	return sentIndexed(q, "", where, order, args...)
}

// sentIndexed is sentWhere along the index named, which must serve it.
func sentIndexed(q querier, index, where, order string, args ...any) ([]*SentLetter, error) {
	out, err := lettersWhere[SentLetter](q, boxSent, index, where, order, args)
	for _, s := range out {
		s.Kind = sentKind(s)
	}
	return out, err
}

// receivedWhere returns the received letters that match where.
func receivedWhere(q querier, where, order string, args ...any) ([]*Received, error) {
	return receivedIndexed(q, "", where, order, args...)
}

// receivedIndexed is receivedWhere along the index named, which must
// serve it.
func receivedIndexed(q querier, index, where, order string, args ...any) ([]*Received, error) {
	return lettersWhere[Received](q, boxReceived, index, where, order, args)
}

// lettersWhere returns the records of box's letters that match where.
func lettersWhere[T any](q querier, box, index, where, order string, args []any) ([]*T, error) {
	var out []*T
	err := selectLetters(q, index, `box = '`+box+`' AND (`+where+`)`, order, args, func(rec []byte) error {
		var v T
		if err := json.Unmarshal(rec, &v); err != nil {
			return err
		}
		out = append(out, &v)
		return nil
	})
	return out, err
}

// matchQuery turns a person's search text into an FTS5 query that finds
// letters holding every word of it: each word is quoted, so that no text
// is taken for the query language.
func matchQuery(text string) string {
	var terms []string
	// Control characters (a NUL ends FTS5's query text) and invalid UTF-8
	// separate words, as the tokenizer takes them.
	text = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(text, " "))
	for _, w := range strings.Fields(text) {
		if strings.IndexFunc(w, isWordRune) < 0 {
			continue // only separators: it would match nothing, and so make the search find nothing
		}
		terms = append(terms, `"`+strings.ReplaceAll(w, `"`, `""`)+`"`)
	}
	return strings.Join(terms, " ")
}

// isWordRune reports whether the search index's tokenizer (unicode61)
// keeps r in a word rather than taking it for a separator.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Co, r)
}

// threadOf is a letter's thread for the letters table: the thread it
// names, or, for a letter that names none, its own id (it starts one).
func threadOf(thread, id string) string {
	if thread != "" {
		return thread
	}
	return id
}

// putSentRecord records a sent letter; body, for a letter recorded the
// first time, goes into the search index.
func putSentRecord(q querier, s *SentLetter, body string) error {
	return putLetter(q, letterRow{box: boxSent, id: s.ID, party: s.To, seq: s.Seq, precedence: s.Precedence,
		kind: sentKind(s), subject: s.Subject, thread: threadOf(s.Thread, s.ID), at: s.SealedAt.UnixNano(),
		state: s.state(), receipts: receiptBits(s.Receipts), record: s}, body)
}

// putReceivedRecord records an opened letter; body, for a letter recorded
// the first time, goes into the search index.
func putReceivedRecord(q querier, rec *Received, body string) error {
	return putLetter(q, letterRow{box: boxReceived, id: rec.ID, party: rec.From, seq: rec.Seq, precedence: rec.Precedence,
		kind: rec.Kind, subject: rec.Subject, thread: threadOf(rec.Thread, rec.ID), at: rec.OpenedAt.UnixNano(),
		state: rec.rowState(), receipts: receiptBits(rec.Receipts), record: rec}, body)
}
