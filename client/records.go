package client

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
)

// The device's records live in records.db, an SQLite database in WAL mode
// that every process using the party folder shares. A commit survives a
// crash of any process once it returns. It is also on disk (fsynced)
// before it returns when it must survive a power cut because of what
// follows it: the record of a letter about to be posted, of a letter
// opened before its delivered receipt goes out, of a receipt about to be
// posted, of a number given back (inDurableTx). The other commits (a
// number taken, a letter marked posted, a receipt collected) ride on the
// next durable commit, since the WAL is written in order: lost in a power
// cut, each is redone (the number was not yet used by a durable record,
// the letter is posted again and the relay answers the same receipt, the
// receipt is fetched again). Each write is one transaction,
// begun IMMEDIATE so that two processes never both read and then both
// write; a process that finds the database busy waits up to busyTimeout.
//
// Letters' bodies, attachments and sealed copies stay files; the database
// holds what is asked of them: sequence numbers (those this device takes,
// per recipient party, in seqs and released; those received, per sending
// party and device, in received_numbers), the outbox, the sent and
// received records with their receipts, the receipts set aside, and the
// search index.
//
// sealed holds the sealed copy of each small letter this device sent (at
// most inlineSealed bytes of plaintext), written in the transaction that
// records the letter; a larger letter's sealed copy is the file
// sent/ID.age.
//
// The partial indexes serve the questions brief watch asks on every tick;
// a query uses one only if it states the index's condition in the same
// words, with literals (hasDelivered is 4, hasAcknowledged 8), which
// TestQueriesUseIndexes checks.
//
// letters holds every letter this device sent or opened, one row each
// (box "sent" or "received"), with the columns that queries select on and
// the record itself (SentLetter or Received) as JSON. search is an FTS5
// index of each letter's subject and body, keyed by letters.n.

const recordsFile = "records.db"

// busyTimeout is how long a process waits for another's transaction.
const busyTimeout = 30_000 // milliseconds

// schemaVersion is the version of the schema below, kept in meta.
const schemaVersion = "1"

const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seqs (party TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS released (party TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (party, seq));
CREATE TABLE IF NOT EXISTS received_numbers (party TEXT NOT NULL, device TEXT NOT NULL, seqs TEXT NOT NULL, PRIMARY KEY (party, device));
CREATE TABLE IF NOT EXISTS letters (
	n          INTEGER PRIMARY KEY,
	box        TEXT NOT NULL,
	id         TEXT NOT NULL,
	party      TEXT NOT NULL,
	seq        INTEGER NOT NULL,
	precedence INTEGER NOT NULL,
	kind       TEXT NOT NULL,
	subject    TEXT NOT NULL,
	thread     TEXT NOT NULL,
	at         INTEGER NOT NULL,
	state      TEXT NOT NULL,
	receipts   INTEGER NOT NULL,
	record     BLOB NOT NULL,
	UNIQUE (box, id)
);
CREATE INDEX IF NOT EXISTS letters_queued ON letters (party, seq) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS letters_refused ON letters (party) WHERE state = 'refused';
CREATE INDEX IF NOT EXISTS letters_list ON letters (box, kind, at);
CREATE INDEX IF NOT EXISTS letters_thread ON letters (thread) WHERE thread != '';
CREATE INDEX IF NOT EXISTS letters_seq ON letters (box, party, seq);
CREATE INDEX IF NOT EXISTS letters_open ON letters (box, kind, receipts, precedence, at);
CREATE INDEX IF NOT EXISTS letters_awaiting ON letters (at) WHERE box = 'sent' AND kind = 'letter' AND state != 'refused' AND receipts & 4 = 0;
CREATE INDEX IF NOT EXISTS letters_unacked ON letters (precedence, at) WHERE box = 'sent' AND kind = 'letter' AND receipts & 12 = 4;
CREATE INDEX IF NOT EXISTS letters_pending ON letters (precedence, at) WHERE box = 'received' AND kind = 'letter' AND (receipts & 8 = 0 OR state = 'unsent');
CREATE INDEX IF NOT EXISTS letters_unsent ON letters (at) WHERE state = 'unsent';
CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5 (subject, body, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2');
CREATE TABLE IF NOT EXISTS refused_receipts (seq INTEGER PRIMARY KEY, record BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sealed (id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sealing (party TEXT NOT NULL, seq INTEGER NOT NULL, pid INTEGER NOT NULL, PRIMARY KEY (party, seq));
`

// openRecords opens (and if need be creates) the records database of the
// party folder dir.
func openRecords(dir string, durable bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout))
	q.Add("_pragma", "journal_mode(WAL)")
	if durable {
		q.Add("_pragma", "synchronous(FULL)")
	} else {
		q.Add("_pragma", "synchronous(NORMAL)")
	}
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	path, err := filepath.Abs(filepath.Join(dir, recordsFile))
	if err != nil {
		return nil, err
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	db := sql.OpenDB(&stmtConnector{dsn: u.String(), drv: &sqlite.Driver{}})
	if err := prepareSchema(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("failed to prepare %s: %w", recordsFile, err)
	}
	return db, nil
}

// prepareSchema creates the tables and indexes that are missing, and moves
// the records of an older layout (upgradeSchema). A database in use by
// another process is read as it is: the schema's version (user_version)
// says whether anything is missing. Creating them, or turning a new
// database to WAL mode, can find the database locked by a process doing
// the same; SQLite does not wait for that by itself, so it is tried again
// for up to busyTimeout.
func prepareSchema(db *sql.DB) error {
	var version int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err == nil && version == schemaUserVersion {
		return nil
	}
	deadline := time.Now().Add(busyTimeout * time.Millisecond)
	for pause := time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		err := upgradeSchema(db)
		if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") || time.Now().After(deadline) {
			return err
		}
		time.Sleep(pause)
	}
}

// upgradeSchema makes the schema current in one transaction: it creates
// what is missing, moves the numbers received from the per-party layout
// (moveReceivedSeqs), and sets user_version. A crash leaves the database
// as it was.
func upgradeSchema(db *sql.DB) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(schema); err != nil {
		return err
	}
	if err := moveReceivedSeqs(tx); err != nil {
		return fmt.Errorf("failed to move the numbers received to their devices: %w", err)
	}
	if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d;", schemaUserVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// schemaUserVersion is the schema's version in SQLite's user_version: the
// number of the last change to the schema above. Version 6 keeps the
// numbers received per sending party and device (received_numbers), not
// per party (received_seqs).
const schemaUserVersion = 6

// querier is what reads need: the database, or a transaction.
type querier interface {
	QueryRow(query string, args ...any) *sql.Row
	Query(query string, args ...any) (*sql.Rows, error)
	Exec(query string, args ...any) (sql.Result, error)
}

// getMeta returns the value of key in meta, or "" if it is not set.
func getMeta(q querier, key string) (string, error) {
	var v string
	err := q.QueryRow(`SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

func setMeta(q querier, key, value string) error {
	_, err := q.Exec(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}
