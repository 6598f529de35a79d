package client

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Counters that must never go backwards, in records.db: the next sequence
// number per channel (seqs), the numbers given back (released), and the
// receipt cursor (meta "receipts_after").

// lock takes the exclusive lock on the party folder's lock file, which
// every process using the folder shares, and returns its release. It
// guards the folder's files that are not in records.db (heartbeats.json,
// testletters.json, log.json, keys.age, tmp/).
func (p *Party) lock() (func(), error) { return lockDir(p.dir) }

// lockDir takes the lock of the party folder dir, as Party.lock does.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to lock party folder: %w", err)
	}
	return func() { f.Close() }, nil
}

// takeSeq returns the next sequence number on the channel to party, the
// lowest released one first, and records it as used before returning, so
// that a number is never reused once a letter carrying it may exist (a gap
// is visible; a reuse is not).
func (p *Party) takeSeq(party string) (seq uint64, err error) {
	err = p.inTx(func(tx *sql.Tx) error {
		err := tx.QueryRow(`DELETE FROM released WHERE party = ? AND seq = (SELECT MIN(seq) FROM released WHERE party = ?) RETURNING seq`, party, party).Scan(&seq)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if seq, err = nextSeq(tx, party); err != nil {
				return err
			}
			if err := setNextSeq(tx, party, seq+1); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		// Known as being sealed here before any other goroutine can see
		// the note (sealerAlive); seal forgets it once recorded.
		p.sealing.Store(sealingKey{party, seq}, struct{}{})
		return noteSealing(tx, party, seq)
	})
	if err != nil {
		p.sealing.Delete(sealingKey{party, seq})
	}
	return seq, err
}

// nextSeq returns the next new number on the channel to party.
func nextSeq(q querier, party string) (uint64, error) {
	var next int64
	err := q.QueryRow(`SELECT next FROM seqs WHERE party = ?`, party).Scan(&next)
	if errors.Is(err, sql.ErrNoRows) {
		return 1, nil
	}
	return max(uint64(next), 1), err
}

func setNextSeq(q querier, party string, next uint64) error {
	_, err := q.Exec(`INSERT INTO seqs (party, next) VALUES (?, ?) ON CONFLICT (party) DO UPDATE SET next = excluded.next`, party, int64(next))
	return err
}

// releaseSeq gives back a number that takeSeq gave for a letter that was
// never sealed, or never posted, so no letter carrying it reached the
// relay: the recipient would otherwise wait for it forever, and report it
// missing. Call it only once nothing with the number can be posted.
func (p *Party) releaseSeq(party string, seq uint64) error {
	return p.inDurableTx(func(tx *sql.Tx) error {
		if err := doneSealing(tx, party, seq); err != nil {
			return err
		}
		return giveBack(tx, party, seq)
	})
}

// lastTaken reports whether seq is the last number taken on the channel
// to party: given back, it is simply the next number again.
func lastTaken(q querier, party string, seq uint64) (bool, error) {
	next, err := nextSeq(q, party)
	return next == seq+1, err
}

// giveBack gives seq back: as the next number if it is the last taken,
// else to be taken first by the next letters (released).
func giveBack(q querier, party string, seq uint64) error {
	last, err := lastTaken(q, party, seq)
	if err != nil {
		return err
	}
	if last {
		return setNextSeq(q, party, seq)
	}
	_, err = q.Exec(`INSERT OR IGNORE INTO released (party, seq) VALUES (?, ?)`, party, int64(seq))
	return err
}

// receiptsAfter returns the receipt cursor: the relay's receipt sequence
// number up to which receipts were handled.
func receiptsAfter(q querier) (uint64, error) {
	v, err := getMeta(q, "receipts_after")
	if err != nil || v == "" {
		return 0, err
	}
	return strconv.ParseUint(v, 10, 64)
}

// advanceReceipts moves the receipt cursor forward to seq; it never moves
// it back.
func (p *Party) advanceReceipts(seq uint64) error {
	return p.inTx(func(tx *sql.Tx) error {
		cur, err := receiptsAfter(tx)
		if err != nil || cur >= seq {
			return err
		}
		return setMeta(tx, "receipts_after", strconv.FormatUint(seq, 10))
	})
}
