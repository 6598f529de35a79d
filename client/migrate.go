package client

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A party folder from before records.db kept its records in JSON files:
// state.json (sequence numbers, the receipt cursor, the numbers received),
// sent/ID.json, archive/ID/letter.json and receipts-refused.json, with
// outbox.json, awaiting.json and pending.json as lists derived from them.
// The first Load of such a folder moves them into the database in one
// transaction, then moves the files into migrated/ (same relative paths),
// where they stay: nothing is lost, and a crash before the commit leaves
// the folder as it was, to be migrated at the next Load.

// state is state.json, as a folder from before records.db kept it.
type state struct {
	NextSeq       map[string]uint64   `json:"next_seq"`
	Unsealed      map[string][]uint64 `json:"unsealed,omitempty"`
	ReceiptsAfter uint64              `json:"receipts_after"`
	Received      map[string]*seqSet  `json:"received"`
}

// migratedDir is where the JSON records go once they are in the database.
const migratedDir = "migrated"

// maxIndexedBody is how much of a letter's body the search index takes.
const maxIndexedBody = 1 << 20

// migrate moves the JSON records of the folder into the database, if that
// was not done yet, and then moves the files aside.
//
// A folder whose files were moved says so in meta ("json_moved"): a Load
// then reads that one row, and neither writes nor lists the folder.
func (p *Party) migrate() error {
	if moved, err := getMeta(p.db, "json_moved"); err != nil || moved != "" {
		return err
	}
	err := p.inDurableTx(func(tx *sql.Tx) error {
		v, err := getMeta(tx, "schema")
		if err != nil || v != "" {
			return err
		}
		if err := p.importJSON(tx); err != nil {
			return fmt.Errorf("failed to move the party folder's records into %s: %w", recordsFile, err)
		}
		return setMeta(tx, "schema", schemaVersion)
	})
	if err != nil {
		return err
	}
	if err := p.moveMigrated(); err != nil {
		return err
	}
	return p.inTx(func(tx *sql.Tx) error { return setMeta(tx, "json_moved", "yes") })
}

// importJSON copies every JSON record of the folder into the database.
func (p *Party) importJSON(tx *sql.Tx) error {
	var st state
	if err := readJSONFile(filepath.Join(p.dir, "state.json"), &st); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for party, next := range st.NextSeq {
		if _, err := tx.Exec(`INSERT INTO seqs (party, next) VALUES (?, ?)`, party, int64(next)); err != nil {
			return err
		}
	}
	for party, free := range st.Unsealed {
		for _, n := range free {
			if _, err := tx.Exec(`INSERT OR IGNORE INTO released (party, seq) VALUES (?, ?)`, party, int64(n)); err != nil {
				return err
			}
		}
	}
	if err := setMeta(tx, "receipts_after", strconv.FormatUint(st.ReceiptsAfter, 10)); err != nil {
		return err
	}
	sent, err := p.jsonSent()
	if err != nil {
		return err
	}
	for _, s := range sent {
		if err := putSentRecord(tx, s, ""); err != nil {
			return err
		}
	}
	received := map[string]*seqSet{}
	for from, set := range st.Received {
		received[from] = set
	}
	if err := p.importArchive(tx, st.Received == nil, received); err != nil {
		return err
	}
	for from, set := range received {
		if err := putPartySeqs(tx, from, set); err != nil {
			return err
		}
	}
	var refused []Refused
	if err := readJSONFile(filepath.Join(p.dir, "receipts-refused.json"), &refused); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, r := range refused {
		if _, err := putRefused(tx, r); err != nil {
			return err
		}
	}
	return nil
}

// jsonSent reads sent/*.json. A record that does not read stops the
// migration: it must not be lost by being left behind.
func (p *Party) jsonSent() ([]*SentLetter, error) {
	entries, err := os.ReadDir(filepath.Join(p.dir, "sent"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []*SentLetter
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		var s SentLetter
		if err := readJSONFile(filepath.Join(p.dir, "sent", e.Name()), &s); err != nil {
			return nil, err
		}
		out = append(out, &s)
	}
	return out, nil
}

// importArchive copies archive/ID/letter.json into the database, with the
// start of each body for the search index; with scan, it also fills in
// the numbers received (a folder from before state.json kept them).
func (p *Party) importArchive(tx *sql.Tx, scan bool, received map[string]*seqSet) error {
	entries, err := os.ReadDir(filepath.Join(p.dir, "archive"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	for _, e := range entries {
		var rec Received
		err := readJSONFile(filepath.Join(p.dir, "archive", e.Name(), "letter.json"), &rec)
		if errors.Is(err, os.ErrNotExist) {
			continue // not a letter's folder
		} else if err != nil {
			return err
		}
		rec.Kind = p.KindOf(&rec)
		if err := putReceivedRecord(tx, &rec, bodyText(p.archivePath(rec.ID), &rec)); err != nil {
			return err
		}
		if scan {
			set := received[rec.From]
			if set == nil {
				set = &seqSet{}
				received[rec.From] = set
			}
			set.add(rec.Seq)
		}
	}
	return nil
}

// bodyText returns the start of a letter's body, whose files are in dir,
// for the search index.
func bodyText(dir string, rec *Received) string {
	if len(rec.Parts) == 0 {
		return ""
	}
	f, err := os.Open(filepath.Join(dir, rec.Parts[0].Path))
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, maxIndexedBody))
	return string(b)
}

// moveMigrated moves the JSON records that are in the database into
// migrated/. It is done again at each Load until it succeeds.
func (p *Party) moveMigrated() error {
	names := []string{"state.json", "receipts-refused.json", "outbox.json", "awaiting.json", "pending.json"}
	if ents, err := os.ReadDir(filepath.Join(p.dir, "sent")); err == nil {
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".json") {
				names = append(names, filepath.Join("sent", e.Name()))
			}
		}
	}
	if ents, err := os.ReadDir(filepath.Join(p.dir, "archive")); err == nil {
		for _, e := range ents {
			names = append(names, filepath.Join("archive", e.Name(), "letter.json"))
		}
	}
	var errs []error
	for _, n := range names {
		from, to := filepath.Join(p.dir, n), filepath.Join(p.dir, migratedDir, n)
		if _, err := os.Stat(from); err != nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, os.Rename(from, to))
	}
	return errors.Join(errs...)
}

// putSeqSet records the set of numbers received from device of party from.
func putSeqSet(q querier, from, device string, set *seqSet) error {
	b, err := json.Marshal(set)
	if err != nil {
		return err
	}
	_, err = q.Exec(`INSERT INTO received_numbers (party, device, seqs) VALUES (?, ?, ?) ON CONFLICT (party, device) DO UPDATE SET seqs = excluded.seqs`,
		from, device, string(b))
	return err
}

// moveReceivedSeqs moves the numbers received that a database before
// schema version 6 kept per party (received_seqs) to received_numbers,
// per party and device (putPartySeqs), and drops the old table.
func moveReceivedSeqs(tx *sql.Tx) error {
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'received_seqs'`).Scan(&n); err != nil || n == 0 {
		return err
	}
	old := map[string]*seqSet{}
	rows, err := tx.Query(`SELECT party, seqs FROM received_seqs`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var party, raw string
		var set seqSet
		if err := rows.Scan(&party, &raw); err != nil {
			rows.Close()
			return err
		}
		if err := json.Unmarshal([]byte(raw), &set); err != nil {
			rows.Close()
			return fmt.Errorf("the numbers received from %s: %w", party, err)
		}
		old[party] = &set
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for party, set := range old {
		if err := putPartySeqs(tx, party, set); err != nil {
			return err
		}
	}
	_, err = tx.Exec(`DROP TABLE received_seqs`)
	return err
}

// putPartySeqs records numbers received from party when they were kept
// per party. They came from the party's one sending device, which the
// records of its letters name: they are recorded under it. Should those
// records name several devices, each device gets the numbers of its own
// letters (the records hold every letter received); should they name
// none, the numbers stay under the party alone (device "").
func putPartySeqs(q querier, party string, set *seqSet) error {
	rows, err := q.Query(`SELECT json_extract(record, '$.device'), seq FROM letters WHERE box = 'received' AND party = ?`, party)
	if err != nil {
		return err
	}
	byDevice := map[string]*seqSet{}
	for rows.Next() {
		var device string
		var seq int64
		if err := rows.Scan(&device, &seq); err != nil {
			rows.Close()
			return err
		}
		if byDevice[device] == nil {
			byDevice[device] = &seqSet{}
		}
		byDevice[device].add(uint64(seq))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	switch len(byDevice) {
	case 0:
		return putSeqSet(q, party, "", set)
	case 1:
		for device := range byDevice {
			return putSeqSet(q, party, device, set)
		}
	}
	for device, s := range byDevice {
		if err := putSeqSet(q, party, device, s); err != nil {
			return err
		}
	}
	return nil
}

// putRefused records a receipt set aside, once.
func putRefused(q querier, r Refused) (bool, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	res, err := q.Exec(`INSERT OR IGNORE INTO refused_receipts (seq, record) VALUES (?, ?)`, int64(r.Seq), b)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
