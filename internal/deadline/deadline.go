// Package deadline holds the delivery deadlines per precedence, after ACP
// 127: how long a letter may take from being sent to its delivered
// receipt. The sending device raises its alarm on them (client), and the
// relay shows the operator the letters waiting past them (relay). It holds
// the acknowledgement deadlines too (AckDeadlines): how long an opened
// letter may wait for a person's acknowledged receipt.
package deadline

import (
	"fmt"
	"strings"
	"time"

	"brieftraeger/envelope"
)

// Deadlines are the delivery deadlines per precedence: how long a letter
// may take from sealing to its delivered receipt before it is overdue. The
// zero value means the defaults after ACP 127 (Default).
type Deadlines map[envelope.Precedence]time.Duration

// Default is the delivery deadline of a precedence after ACP 127:
// FLASH 10 minutes, IMMEDIATE 30 minutes, PRIORITY 3 hours, ROUTINE 6 hours.
func Default(p envelope.Precedence) time.Duration {
	return byPrecedence(p, 10*time.Minute, 30*time.Minute, 3*time.Hour, 6*time.Hour)
}

// byPrecedence returns the one of four durations, FLASH's first, that
// belongs to precedence p; an unknown precedence gets ROUTINE's.
func byPrecedence(p envelope.Precedence, flash, immediate, priority, routine time.Duration) time.Duration {
	switch p {
	case envelope.Flash:
		return flash
	case envelope.Immediate:
		return immediate
	case envelope.Priority:
		return priority
	}
	return routine
}

// Of returns the deadline of precedence p.
func (d Deadlines) Of(p envelope.Precedence) time.Duration { return of(d, p, Default) }

// of returns d's deadline of p, or def's if d has none.
func of(d map[envelope.Precedence]time.Duration, p envelope.Precedence, def func(envelope.Precedence) time.Duration) time.Duration {
	if v, ok := d[p]; ok {
		return v
	}
	return def(p)
}

// Parse parses "FLASH=5m,ROUTINE=2h" (any subset); the others
// keep their defaults.
func Parse(s string) (Deadlines, error) {
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
