package client

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Sequence numbers. A sending device numbers the letters it sends to each
// party from 1 (takeSeq) and signs the number inside the letter; the
// devices of one party keep their own counters. The receiver records, per
// sending party and device, the numbers it has archived (records.db,
// received_numbers), so that it can report a letter that has not arrived
// while a later one from the same device has, and refuse a second letter
// from that device that carries a number already received.

// seqSet is the set of sequence numbers received from one device: every
// number from 1 through Through, and the numbers in Above, ascending, each
// above Through+1.
type seqSet struct {
	Through uint64   `json:"through"`
	Above   []uint64 `json:"above,omitempty"`
}

func (s *seqSet) has(n uint64) bool {
	if n == 0 {
		return false
	}
	if n <= s.Through {
		return true
	}
	_, ok := slices.BinarySearch(s.Above, n)
	return ok
}

// add adds n to the set; it reports whether n was new.
func (s *seqSet) add(n uint64) bool {
	if n == 0 || s.has(n) {
		return false
	}
	i, _ := slices.BinarySearch(s.Above, n)
	s.Above = slices.Insert(s.Above, i, n)
	k := 0
	for k < len(s.Above) && s.Above[k] == s.Through+1 {
		s.Through++
		k++
	}
	s.Above = s.Above[k:]
	if len(s.Above) == 0 {
		s.Above = nil
	}
	return true
}

// gaps returns the runs of numbers missing below the highest received.
func (s *seqSet) gaps(from, device string) []Gap {
	var out []Gap
	prev := s.Through
	for _, n := range s.Above {
		if n > prev+1 {
			out = append(out, Gap{From: from, Device: device, First: prev + 1, Last: n - 1, Next: n})
		}
		prev = n
	}
	return out
}

// Gap is a run of letters from one device of a party that have not
// arrived although a later one from that device has: sequence numbers
// First through Last are missing, and Next, the lowest number above them,
// has been received.
type Gap struct {
	From   string `json:"from"`
	Device string `json:"device"`
	First  uint64 `json:"first"`
	Last   uint64 `json:"last"`
	Next   uint64 `json:"next"`
}

// Sender names the device the gap is in: "washington/laptop"; the party
// alone for numbers kept from before devices were told apart (Device
// empty).
func (g Gap) Sender() string { return sender(g.From, g.Device) }

func sender(party, device string) string {
	if device == "" {
		return party
	}
	return party + "/" + device
}

// maxGapLines is the longest run that Lines reports number by number.
const maxGapLines = 16

// Lines describes the gap for a person: one line per missing number,
// "letter 2 from washington/laptop has not arrived; 3 has", or, for a run
// longer than 16, one line for the run.
func (g Gap) Lines() []string {
	if g.Last-g.First >= maxGapLines {
		return []string{fmt.Sprintf("letters %d to %d from %s have not arrived; %d has", g.First, g.Last, g.Sender(), g.Next)}
	}
	var out []string
	for n := g.First; n <= g.Last; n++ {
		out = append(out, fmt.Sprintf("letter %d from %s has not arrived; %d has", n, g.Sender(), g.Next))
	}
	return out
}

// maxGapNumbers bounds the list Gaps returns: a sender that skips far
// ahead must not make the receiver build a list of billions.
const maxGapNumbers = 1024

// Gaps returns the sequence numbers of letters from from, a device
// ("washington/laptop"), that have not arrived although a later one has,
// ascending; at most the lowest 1,024 of them (GapReport describes every
// gap as runs). For a party with several devices, from naming the party
// alone mixes their numbers: use GapReport.
func (p *Party) Gaps(from string) ([]uint64, error) {
	gaps, err := p.GapReport(from)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, g := range gaps {
		for n := g.First; n <= g.Last && len(out) < maxGapNumbers; n++ {
			out = append(out, n)
		}
	}
	return out, nil
}

// GapReport returns the gaps in the letters received from from: a party
// ("washington"), one of its devices ("washington/laptop"), or every
// party if from is empty; ordered by party, device and number.
func (p *Party) GapReport(from string) ([]Gap, error) {
	party, device, one := strings.Cut(from, "/")
	byDevice := 0
	if one {
		byDevice = 1
	}
	rows, err := p.db.Query(`SELECT party, device, seqs FROM received_numbers
		WHERE (?1 = '' OR party = ?1) AND (?2 = 0 OR device = ?3) ORDER BY party, device`, party, byDevice, device)
	if err != nil {
		return nil, fmt.Errorf("failed to read the numbers received: %w", err)
	}
	defer rows.Close()
	var out []Gap
	for rows.Next() {
		var party, device, raw string
		if err := rows.Scan(&party, &device, &raw); err != nil {
			return nil, err
		}
		var set seqSet
		if err := json.Unmarshal([]byte(raw), &set); err != nil {
			return nil, fmt.Errorf("the numbers received from %s: %w", sender(party, device), err)
		}
		out = append(out, set.gaps(party, device)...)
	}
	return out, rows.Err()
}

// receivedSet returns the numbers received from device of party from.
func receivedSet(q querier, from, device string) (*seqSet, error) {
	var raw string
	err := q.QueryRow(`SELECT seqs FROM received_numbers WHERE party = ? AND device = ?`, from, device).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return &seqSet{}, nil
	} else if err != nil {
		return nil, err
	}
	var set seqSet
	return &set, json.Unmarshal([]byte(raw), &set)
}

// ReplayError refuses a letter whose sequence number was already received
// from the same device with another letter: a replay, or a sender that
// reused a number.
type ReplayError struct {
	ID     string // the letter refused
	From   string
	Device string
	Seq    uint64
	Prior  string // the letter received before with Seq; empty if the archive no longer holds it
}

func (e *ReplayError) Error() string {
	if e.Prior == "" {
		return fmt.Sprintf("letter %d from %s was already received", e.Seq, sender(e.From, e.Device))
	}
	return fmt.Sprintf("letter %d from %s was already received as %s", e.Seq, sender(e.From, e.Device), e.Prior)
}

// fileLetter archives an opened letter from its staging folder, records
// it and its sequence number, in one transaction. A letter whose number
// was already received from its device with another letter is refused with a
// *ReplayError, and nothing is archived. If the letter is in the archive
// already (another process opened it meanwhile), that record is returned;
// else the record given is, marked New.
func (p *Party) fileLetter(stage string, rec *Received) (*Received, error) {
	// Read before the transaction, which holds this process's writers.
	body := bodyText(stage, rec)
	out := rec
	err := p.inDurableTx(func(tx *sql.Tx) error {
		var old Received
		if err := getLetter(tx, boxReceived, rec.ID, &old); err == nil {
			out = &old
			return nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		set, err := receivedSet(tx, rec.From, rec.Device)
		if err != nil {
			return err
		}
		if set.has(rec.Seq) {
			var prior string
			err := tx.QueryRow(`SELECT id FROM letters WHERE box = 'received' AND party = ? AND seq = ? AND json_extract(record, '$.device') = ?`,
				rec.From, int64(rec.Seq), rec.Device).Scan(&prior)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			return &ReplayError{ID: rec.ID, From: rec.From, Device: rec.Device, Seq: rec.Seq, Prior: prior}
		}
		if err := p.archive(stage, rec); err != nil {
			return fmt.Errorf("failed to archive letter %s: %w", rec.ID, err)
		}
		if err := putReceivedRecord(tx, rec, body); err != nil {
			return err
		}
		rec.New = true
		set.add(rec.Seq)
		return putSeqSet(tx, rec.From, rec.Device, set)
	})
	return out, err
}
