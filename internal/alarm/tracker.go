package alarm

import (
	"fmt"
	"strings"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
)

// Tracker remembers what the watch has reported, so that each change of
// light, each overdue letter and each missing test letter becomes one
// event. It is not safe for concurrent use.
type Tracker struct {
	// Now is the time the events are stamped with and the lights' reasons
	// judged at; nil is time.Now.
	Now func() time.Time
	// Quiet is when the first light of a channel may be reported if it
	// is not green; before, it is not reported (nor remembered), since
	// the channel has had no chance yet to exchange heartbeats. The zero
	// time reports it at once.
	Quiet time.Time

	lights map[string]string          // channel -> last light reported
	seen   map[string]bool            // kind + letter id -> reported
	owed   map[string]map[string]bool // kind -> ids of the letters past their acknowledgement deadline when last seen
}

func (t *Tracker) now() time.Time {
	if t.Now == nil {
		return time.Now()
	}
	return t.Now()
}

// once reports whether key is new, and remembers it.
func (t *Tracker) once(key string) bool {
	if t.seen == nil {
		t.seen = map[string]bool{}
	}
	if t.seen[key] {
		return false
	}
	t.seen[key] = true
	return true
}

// Status returns an event for each channel whose light differs from the
// one last reported (the first light seen too, with no PreviousLight), and
// one for each test letter newly missing.
func (t *Tracker) Status(st []client.ChannelStatus) []Event {
	if t.lights == nil {
		t.lights = map[string]string{}
	}
	now := t.now()
	var out []Event
	for _, s := range st {
		if prev := t.lights[s.Channel]; prev == "" && s.Light != client.Green && now.Before(t.Quiet) {
			// Too early to say.
		} else if prev != s.Light {
			t.lights[s.Channel] = s.Light
			out = append(out, Event{Channel: s.Channel, Kind: KindLight, Light: s.Light, PreviousLight: prev,
				Reason: lightReason(now, s), Time: now})
		}
		if s.TestLetters == nil {
			continue
		}
		for _, m := range s.TestLetters.Missing {
			if t.once(KindTestLetterMissing + m.ID) {
				out = append(out, Event{Channel: s.Channel, Kind: KindTestLetterMissing, Letter: m.ID, Time: now,
					Reason: fmt.Sprintf("test letter %s sealed %s has no acknowledged receipt; it was due by %s",
						m.ID, m.SealedAt.UTC().Format(time.RFC3339), m.Due.UTC().Format(time.RFC3339))})
			}
		}
	}
	return out
}

// Overdue returns an event for each overdue letter not reported before.
func (t *Tracker) Overdue(late []client.Overdue) []Event {
	now := t.now()
	var out []Event
	for _, o := range late {
		if t.once(KindOverdue + o.ID) {
			out = append(out, Event{Channel: o.To, Kind: KindOverdue, Letter: o.ID, Time: now,
				Reason: fmt.Sprintf("%s letter %s sealed %s has no delivered receipt; it was due by %s",
					o.Precedence, o.ID, o.SealedAt.UTC().Format(time.RFC3339), o.Due.UTC().Format(time.RFC3339))})
		}
	}
	return out
}

// OutboxWait is how long a FLASH or IMMEDIATE letter may wait in the
// outbox before Tracker.Queued raises the alarm.
const OutboxWait = time.Minute

// Queued returns an event for each FLASH or IMMEDIATE letter that has
// waited in the outbox longer than OutboxWait, once per letter.
func (t *Tracker) Queued(waiting []*client.SentLetter) []Event {
	now := t.now()
	var out []Event
	for _, s := range waiting {
		// A heartbeat or test letter waiting says only that the relay is
		// down, which the light says already.
		urgent := !s.Kind.System() && (s.Precedence == envelope.Flash.String() || s.Precedence == envelope.Immediate.String())
		if urgent && now.Sub(s.SealedAt) > OutboxWait && t.once(KindOutbox+s.ID) {
			reason := fmt.Sprintf("%s letter %s sealed %s waits in the outbox after %d attempts", s.Precedence, s.ID,
				s.SealedAt.UTC().Format(time.RFC3339), s.Attempts)
			if s.PostError != "" {
				reason += ": " + s.PostError
			}
			out = append(out, Event{Channel: s.To, Kind: KindOutbox, Letter: s.ID, Time: now, Reason: reason})
		}
	}
	return out
}

// lightReason says in one line why a channel has its light.
func lightReason(now time.Time, s client.ChannelStatus) string {
	if s.RelayError != "" {
		return "relay unreachable: " + s.RelayError
	}
	limit := s.Interval * 3 / 2
	if s.Light == client.Red {
		limit = 3 * s.Interval
	}
	if s.Light == client.Green {
		return fmt.Sprintf("heartbeats went each way within %s", limit)
	}
	var silent []string
	if s.LastDelivered == nil || now.Sub(s.LastDelivered.SealedAt) > limit {
		silent = append(silent, "no heartbeat to "+s.Channel+" delivered")
	}
	if s.LastReceived == nil || now.Sub(s.LastReceived.OpenedAt) > limit {
		silent = append(silent, "no heartbeat from "+s.Channel+" received")
	}
	return fmt.Sprintf("%s within %s", strings.Join(silent, " and "), limit)
}
