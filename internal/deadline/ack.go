package deadline

import (
	"time"

	"brieftraeger/envelope"
)

// AckDeadlines are the acknowledgement deadlines per precedence: how long
// a letter may wait, from its opening by the recipient's device (its
// delivered receipt), for a person's acknowledged receipt. The zero value
// means the defaults (AckDefault).
type AckDeadlines map[envelope.Precedence]time.Duration

// AckDefault is the acknowledgement deadline of a precedence: FLASH
// 10 minutes, IMMEDIATE 1 hour, PRIORITY 6 hours, ROUTINE 24 hours. ACP
// 127 asks a FLASH message to reach its reader within 10 minutes and an
// IMMEDIATE within 30; a person then needs time to read, so the later
// precedences get more than their delivery deadline: PRIORITY half a
// working day, ROUTINE the next working day.
func AckDefault(p envelope.Precedence) time.Duration {
	return byPrecedence(p, 10*time.Minute, time.Hour, 6*time.Hour, 24*time.Hour)
}

// Of returns the acknowledgement deadline of precedence p.
func (d AckDeadlines) Of(p envelope.Precedence) time.Duration { return of(d, p, AckDefault) }

// ParseAck parses "FLASH=5m,ROUTINE=2h" (any subset) as acknowledgement
// deadlines; the others keep their defaults.
func ParseAck(s string) (AckDeadlines, error) {
	d, err := Parse(s)
	return AckDeadlines(d), err
}
