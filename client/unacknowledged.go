package client

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"brieftraeger/envelope"
)

// The sent letters delivered but not acknowledged: the sender's side of
// PendingLetters, one indexed query too.

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

// UnacknowledgedLetters lists the sent letters that were delivered but not
// acknowledged, from the receipts collected so far (call CollectReceipts
// first), each with its acknowledgement deadline, counted from the
// delivered receipt's time, at the party's clock; the most urgent first
// and, within a precedence, the longest waiting first.
func (p *Party) UnacknowledgedLetters(d AckDeadlines) ([]Unacknowledged, error) {
	letters, err := sentIndexed(p.db, "letters_unacked", `kind = 'letter' AND receipts & 12 = 4`, `precedence, at`)
	if err != nil {
		return nil, fmt.Errorf("failed to read the letters owed an acknowledgement: %w", err)
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
