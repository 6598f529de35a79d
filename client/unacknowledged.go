package client

import (
	"cmp"
	"slices"
	"time"

	"brieftraeger/envelope"
)

// The sent letters delivered but not acknowledged. The sender's side of
// pending.json: unacknowledged.json lists the ids of the sent letters with
// a delivery deadline (not heartbeats or test letters) that were delivered
// and had no acknowledged receipt when last looked at. A letter moves
// there from awaiting.json, under the folder lock and before it leaves
// awaiting.json, when a check of the overdue letters finds it delivered;
// UnacknowledgedLetters drops the letters acknowledged since.

const unacknowledgedFile = "unacknowledged.json"

// Unacknowledged is a letter this party sent that the recipient's device
// has opened (its delivered receipt) and no person there has acknowledged.
type Unacknowledged struct {
	ID          string    `json:"id"`
	To          string    `json:"to"`
	Subject     string    `json:"subject"`
	Precedence  string    `json:"precedence"`
	SealedAt    time.Time `json:"sealed_at"`
	DeliveredAt time.Time `json:"delivered_at"` // the time in the delivered receipt, at the recipient's clock
	Due         time.Time `json:"due"`          // DeliveredAt plus the acknowledgement deadline
	WaitedS     int64     `json:"waited_s"`     // seconds since DeliveredAt, at this party's clock
	Overdue     bool      `json:"overdue"`      // past Due, at this party's clock
}

// owesAck reports whether a sent letter belongs in unacknowledged.json.
func owesAck(s *SentLetter) bool {
	return hasDeadline(s) && delivered(s) && !acknowledged(s.Receipts)
}

func (p *Party) scanUnacknowledged() ([]string, error) { return p.scanSent(owesAck) }

// noteDelivered lists a sent letter in unacknowledged.json if it owes an
// acknowledgement; the caller holds the folder lock. awaitedLetters calls
// it before it drops the letter from awaiting.json.
func (p *Party) noteDelivered(s *SentLetter) error {
	if !owesAck(s) {
		return nil
	}
	return p.editList(unacknowledgedFile, p.scanUnacknowledged, addID(s.ID))
}

// UnacknowledgedLetters lists the sent letters that were delivered but not
// acknowledged, from the receipts collected so far (call CollectReceipts
// first), each with its acknowledgement deadline, counted from the
// delivered receipt's time, at the party's clock; the most urgent first
// and, within a precedence, the longest waiting first. It reads
// only the letters awaiting.json and unacknowledged.json list, and drops
// those acknowledged since.
func (p *Party) UnacknowledgedLetters(d AckDeadlines) ([]Unacknowledged, error) {
	// Moves the letters delivered since the last look.
	if _, err := p.awaitedLetters(); err != nil {
		return nil, err
	}
	letters, err := keepIDs(p, unacknowledgedFile, p.scanUnacknowledged, p.Sent, func(s *SentLetter) bool { return !acknowledged(s.Receipts) })
	if err != nil {
		return nil, err
	}
	now := p.now()
	var out []Unacknowledged
	for _, s := range letters {
		at := receiptTimes(s.Receipts)[envelope.Delivered]
		prec, err := envelope.ParsePrecedence(s.Precedence)
		if at == nil || err != nil {
			continue
		}
		due := at.Add(d.Of(prec))
		out = append(out, Unacknowledged{ID: s.ID, To: s.To, Subject: s.Subject, Precedence: s.Precedence, SealedAt: s.SealedAt,
			DeliveredAt: *at, Due: due, WaitedS: int64(now.Sub(*at) / time.Second), Overdue: now.After(due)})
	}
	slices.SortStableFunc(out, func(a, b Unacknowledged) int {
		return cmp.Or(byUrgency(a.Precedence, b.Precedence), a.DeliveredAt.Compare(b.DeliveredAt))
	})
	return out, nil
}
