package client

import (
	"time"

	"brieftraeger/envelope"
	"brieftraeger/internal/deadline"
)

// Deadlines are the delivery deadlines per precedence (package deadline);
// the zero value means the defaults after ACP 127.
type Deadlines = deadline.Deadlines

// ParseDeadlines parses "FLASH=5m,ROUTINE=2h" (any subset); the others
// keep their defaults.
func ParseDeadlines(s string) (Deadlines, error) { return deadline.Parse(s) }

// Overdue is a sent letter that has no delivered receipt although its
// delivery deadline has passed.
type Overdue struct {
	ID         string    `json:"id"`
	To         string    `json:"to"`
	Subject    string    `json:"subject"`
	Precedence string    `json:"precedence"`
	SealedAt   time.Time `json:"sealed_at"`
	Due        time.Time `json:"due"`
}

// OverdueLetters lists the sent letters with no delivered receipt whose
// deadline has passed at the party's clock, from the receipts collected so
// far (call CollectReceipts first). It reads only the letters that still
// await delivery (awaiting.go), not every letter ever sent.
func (p *Party) OverdueLetters(d Deadlines) ([]Overdue, error) {
	letters, err := p.awaitedLetters()
	if err != nil {
		return nil, err
	}
	now := p.now()
	var out []Overdue
	for _, s := range letters {
		prec, err := envelope.ParsePrecedence(s.Precedence)
		if err != nil {
			continue
		}
		if due := s.SealedAt.Add(d.Of(prec)); now.After(due) {
			out = append(out, Overdue{ID: s.ID, To: s.To, Subject: s.Subject, Precedence: s.Precedence, SealedAt: s.SealedAt, Due: due})
		}
	}
	return out, nil
}
