package client

import (
	"fmt"
	"strings"
	"time"

	"brieftraeger/envelope"
)

// Deadlines are the delivery deadlines per precedence: how long a letter
// may take from sealing to its delivered receipt before it is overdue. The
// zero value means the defaults after ACP 127 (DefaultDeadline).
type Deadlines map[envelope.Precedence]time.Duration

// DefaultDeadline is the delivery deadline of a precedence after ACP 127:
// FLASH 10 minutes, IMMEDIATE 30 minutes, PRIORITY 3 hours, ROUTINE 6 hours.
func DefaultDeadline(p envelope.Precedence) time.Duration {
	switch p {
	case envelope.Flash:
		return 10 * time.Minute
	case envelope.Immediate:
		return 30 * time.Minute
	case envelope.Priority:
		return 3 * time.Hour
	}
	return 6 * time.Hour
}

// Of returns the deadline of precedence p.
func (d Deadlines) Of(p envelope.Precedence) time.Duration {
	if v, ok := d[p]; ok {
		return v
	}
	return DefaultDeadline(p)
}

// ParseDeadlines parses "FLASH=5m,ROUTINE=2h" (any subset); the others
// keep their defaults.
func ParseDeadlines(s string) (Deadlines, error) {
	d := Deadlines{}
	if s == "" {
		return d, nil
	}
	for _, kv := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(kv, "=")
		p, err := envelope.ParsePrecedence(strings.TrimSpace(name))
		if !ok || err != nil {
			return nil, fmt.Errorf("invalid deadline %q: want PRECEDENCE=DURATION", kv)
		}
		dur, err := time.ParseDuration(strings.TrimSpace(val))
		if err != nil || dur <= 0 {
			return nil, fmt.Errorf("invalid deadline %q: want a positive duration like 10m", kv)
		}
		d[p] = dur
	}
	return d, nil
}

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

func delivered(s *SentLetter) bool {
	for _, raw := range s.Receipts {
		if rc, err := envelope.ParseReceipt(raw); err == nil && rc.Kind == envelope.Delivered {
			return true
		}
	}
	return false
}
