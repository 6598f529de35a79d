package alarm

import (
	"fmt"
	"time"

	"brieftraeger/client"
)

// AckOverdue returns an event for each letter opened here that has passed
// its acknowledgement deadline (client.PendingLetters) and was not
// reported since. A letter acknowledged drops out of pending, and with it
// its alarm: were it listed again, it would be reported again.
func (t *Tracker) AckOverdue(pending []client.Pending) []Event {
	owed := make([]owedLetter, len(pending))
	for i, l := range pending {
		owed[i] = owedLetter{l.Overdue, Event{Channel: l.From, Kind: KindAckOverdue, Letter: l.ID, Precedence: l.Precedence, Subject: l.Subject,
			Reason: fmt.Sprintf("%s letter %s from %s opened %s has no acknowledged receipt; it was due by %s",
				l.Precedence, l.ID, l.From, l.OpenedAt.UTC().Format(time.RFC3339), l.Due.UTC().Format(time.RFC3339))}}
	}
	return t.owedEvents(KindAckOverdue, owed)
}

// Unacknowledged returns an event for each letter sent from here that was
// delivered and has passed its acknowledgement deadline
// (client.UnacknowledgedLetters) and was not reported since, as
// AckOverdue does.
func (t *Tracker) Unacknowledged(list []client.Unacknowledged) []Event {
	owed := make([]owedLetter, len(list))
	for i, l := range list {
		owed[i] = owedLetter{l.Overdue, Event{Channel: l.To, Kind: KindUnacknowledged, Letter: l.ID, Precedence: l.Precedence, Subject: l.Subject,
			Reason: fmt.Sprintf("%s letter %s to %s delivered %s has no acknowledged receipt; it was due by %s",
				l.Precedence, l.ID, l.To, l.DeliveredAt.UTC().Format(time.RFC3339), l.Due.UTC().Format(time.RFC3339))}}
	}
	return t.owedEvents(KindUnacknowledged, owed)
}

// owedLetter is a letter owed an acknowledgement, and its event if it is
// overdue.
type owedLetter struct {
	overdue bool
	ev      Event
}

// owedEvents returns the events of the letters of kind overdue now that
// were not when last seen, and remembers which are.
func (t *Tracker) owedEvents(kind string, letters []owedLetter) []Event {
	if t.owed == nil {
		t.owed = map[string]map[string]bool{}
	}
	prev, cur := t.owed[kind], map[string]bool{}
	now := t.now()
	var out []Event
	for _, l := range letters {
		if !l.overdue {
			continue
		}
		cur[l.ev.Letter] = true
		if !prev[l.ev.Letter] {
			l.ev.Time = now
			out = append(out, l.ev)
		}
	}
	t.owed[kind] = cur
	return out
}

// LetterOpened returns the event for a letter the watch opened, or false
// if there is none: the letter is not for a person (forAPerson, from
// client.Party.ForAPerson), or it was in the archive already (read again,
// or announced again by the relay: rec.New is false).
func LetterOpened(rec *client.Received, forAPerson bool) (Event, bool) {
	if !forAPerson || !rec.New {
		return Event{}, false
	}
	return Event{Channel: rec.From, Kind: KindLetter, Letter: rec.ID, Precedence: rec.Precedence, Subject: rec.Subject,
		Reason: fmt.Sprintf("%s letter %s from %s opened; a person must read and acknowledge it", rec.Precedence, rec.ID, rec.From)}, true
}
