package client

import (
	"database/sql"
	"encoding/binary"
	"io"
	"os"
	"time"

	"brieftraeger/envelope"
)

// WatchSyncDir calls fn with each folder synced, before syncing it, until
// restore is called. Tests that use it must not run in parallel.
func WatchSyncDir(fn func(dir string)) (restore func()) {
	orig := syncDir
	syncDir = func(dir string) error { fn(dir); return orig(dir) }
	return func() { syncDir = orig }
}

// PutSentRecord records s as a sent letter's record, replacing the one
// there: a test's stand-in for a record that a crash, an older version or
// tampering left.
func PutSentRecord(p *Party, s *SentLetter) error {
	return p.inTx(func(tx *sql.Tx) error { return putSentRecord(tx, s, "") })
}

// DeleteSentRecord removes a sent letter's record, as a device that never
// had it (another device of the party sent the letter).
func DeleteSentRecord(p *Party, id string) error {
	_, err := p.db.Exec(`DELETE FROM letters WHERE box = 'sent' AND id = ?`, id)
	return err
}

// SetNextSeq sets the next sequence number of the channel to party, as a
// device that lost its records would start again.
func SetNextSeq(p *Party, party string, next uint64) error {
	return setNextSeq(p.db, party, next)
}

// SealedCopy returns the sealed copy this device keeps of letter id.
func SealedCopy(p *Party, id string) ([]byte, error) {
	r, err := p.openSealed(id)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// FillArchive records n received letters from party from, in one
// transaction, through the functions that record an opened letter: each
// with its subject and body (words) in the search index and a time one
// second after the one before, from start. Only the records are written:
// no letter files, no receipts.
func FillArchive(p *Party, from string, start time.Time, n int, words func(i int) (subject, body string)) error {
	return p.inTx(func(tx *sql.Tx) error {
		for i := range n {
			subject, body := words(i)
			var id envelope.ID
			binary.BigEndian.PutUint64(id[:], uint64(i)+1)
			rec := &Received{ID: id.String(), From: from, To: p.keys.Party, Subject: subject, Kind: KindLetter,
				Precedence: envelope.Routine.String(), Seq: uint64(i) + 1, Created: start.Add(time.Duration(i) * time.Second),
				OpenedAt: start.Add(time.Duration(i) * time.Second)}
			if err := putReceivedRecord(tx, rec, body); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetSealedCopy replaces the sealed copy this device keeps of letter id,
// in records.db or in sent/ID.age, with data, or removes it if data is
// nil: a test's stand-in for a copy tampered with, or never kept.
func SetSealedCopy(p *Party, id string, data []byte) error {
	if _, err := os.Stat(p.sealedPath(id)); err == nil {
		if data == nil {
			return os.Remove(p.sealedPath(id))
		}
		return os.WriteFile(p.sealedPath(id), data, 0o600)
	}
	if data == nil {
		_, err := p.db.Exec(`DELETE FROM sealed WHERE id = ?`, id)
		return err
	}
	_, err := p.db.Exec(`UPDATE sealed SET data = ? WHERE id = ?`, data, id)
	return err
}

// TakeSeq takes the channel's next sequence number, as a send that has
// begun sealing has.
func TakeSeq(p *Party, party string) (uint64, error) { return p.takeSeq(party) }

// ForgetSealing forgets that this process seals number seq to party, as
// if the send sealing it had died.
func ForgetSealing(p *Party, party string, seq uint64) { p.sealing.Delete(sealingKey{party, seq}) }
