package envelope

import (
	"fmt"
	"strings"
)

// Precedence is a letter's urgency in ACP 127 order. Lower values are more
// urgent and are delivered first.
type Precedence uint8

// The four precedences, most urgent first.
const (
	Flash Precedence = iota
	Immediate
	Priority
	Routine
)

var precedenceNames = [...]string{"FLASH", "IMMEDIATE", "PRIORITY", "ROUTINE"}

// String returns the precedence's name in capitals.
func (p Precedence) String() string {
	if int(p) < len(precedenceNames) {
		return precedenceNames[p]
	}
	return fmt.Sprintf("Precedence(%d)", p)
}

// Valid reports whether p is one of the four precedences.
func (p Precedence) Valid() bool { return p <= Routine }

// ParsePrecedence parses a precedence name, in any case.
func ParsePrecedence(s string) (Precedence, error) {
	for i, n := range precedenceNames {
		if strings.EqualFold(s, n) {
			return Precedence(i), nil
		}
	}
	return 0, fmt.Errorf("unknown precedence %q: want FLASH, IMMEDIATE, PRIORITY or ROUTINE", s)
}
