package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"brieftraeger/envelope"
	lightpkg "brieftraeger/internal/light"
)

// HeartbeatMediaType is the media type of a heartbeat's part: a small JSON
// object {"sent_at": RFC 3339 time, "interval_s": seconds between
// heartbeats}. A heartbeat is otherwise an ordinary sealed, signed letter
// of a fixed form (precedence IMMEDIATE, subject "heartbeat", see KindOf):
// it takes a sequence number, is logged by the relay, and is archived and
// receipted like any letter. A letter of another form that carries such a
// part is an ordinary letter.
const HeartbeatMediaType = "application/vnd.brieftraeger.heartbeat"

// HeartbeatSubject is the subject of every heartbeat letter.
const HeartbeatSubject = "heartbeat"

// HeartbeatBody is the body text of every heartbeat letter.
const HeartbeatBody = "heartbeat\n"

// DefaultHeartbeatInterval is the interval Status assumes for a channel
// when none is given and none was recorded.
const DefaultHeartbeatInterval = 60 * time.Second

// heartbeatName is the file name of the heartbeat part.
const heartbeatName = "heartbeat.json"

// maxPendingHeartbeats bounds how many sent heartbeats without a delivered
// receipt are remembered per channel for their round trip.
const maxPendingHeartbeats = 16

// The lights of a channel.
const (
	Green = lightpkg.Green // a heartbeat each way within 1.5 intervals
	Amber = lightpkg.Amber // a heartbeat each way within 3 intervals, but not green
	Red   = lightpkg.Red   // a direction silent for 3 intervals, or the relay unreachable
)

// Heartbeat is the content of a heartbeat part.
type Heartbeat struct {
	SentAt    time.Time `json:"sent_at"`
	IntervalS float64   `json:"interval_s"`
}

// Interval returns the sender's heartbeat interval, as announced: 0 if it
// is not positive, and at most maxPeerInterval.
func (h Heartbeat) Interval() time.Duration {
	switch {
	case !(h.IntervalS > 0):
		return 0
	case h.IntervalS >= maxPeerInterval.Seconds():
		return maxPeerInterval
	}
	return time.Duration(h.IntervalS * float64(time.Second))
}

// HeartbeatSent is a heartbeat this device sent, with its round trip once
// its delivered receipt is collected.
type HeartbeatSent struct {
	ID          string        `json:"id"`
	SealedAt    time.Time     `json:"sealed_at"`
	Interval    time.Duration `json:"interval_ns"`
	DeliveredAt *time.Time    `json:"delivered_at,omitempty"` // the delivered receipt's time
}

// RTT returns the time from sealing (this device's clock) to the time in
// the delivered receipt (the recipient's clock), or zero if the receipt
// has not been collected: the way there, skew included.
func (h *HeartbeatSent) RTT() time.Duration {
	if h == nil || h.DeliveredAt == nil {
		return 0
	}
	return h.DeliveredAt.Sub(h.SealedAt)
}

// HeartbeatReceived is a heartbeat this device opened.
type HeartbeatReceived struct {
	ID       string        `json:"id"`
	SentAt   time.Time     `json:"sent_at"`   // the sender's clock
	OpenedAt time.Time     `json:"opened_at"` // this device's clock
	Interval time.Duration `json:"interval_ns"`
}

// channelHeartbeats is one channel's entry in heartbeats.json.
type channelHeartbeats struct {
	Sent      *HeartbeatSent     `json:"sent,omitempty"`      // newest heartbeat sent
	Delivered *HeartbeatSent     `json:"delivered,omitempty"` // newest heartbeat with a delivered receipt: the last round trip known
	Received  *HeartbeatReceived `json:"received,omitempty"`  // newest heartbeat opened
	Pending   []*HeartbeatSent   `json:"pending,omitempty"`   // sent, delivered receipt not yet seen
}

// heartbeatsFile is the party folder's file of heartbeats per channel.
const heartbeatsFile = "heartbeats.json"

func (p *Party) loadHeartbeats() (map[string]*channelHeartbeats, error) {
	return loadChannels[channelHeartbeats](p, heartbeatsFile)
}

// updateHeartbeats changes the entry of one channel in heartbeats.json
// under the folder lock.
func (p *Party) updateHeartbeats(party string, fn func(*channelHeartbeats)) error {
	return updateChannel(p, heartbeatsFile, party, fn)
}

// SendHeartbeat sends a heartbeat to party, telling it the interval at
// which this device sends them, and records it in heartbeats.json.
func (p *Party) SendHeartbeat(ctx context.Context, to string, interval time.Duration) (*SentLetter, error) {
	sent, _, err := p.sendJSONPart(ctx, to, KindHeartbeat, Heartbeat{SentAt: p.now(), IntervalS: interval.Seconds()})
	if err != nil {
		return nil, err
	}
	hb := &HeartbeatSent{ID: sent.ID, SealedAt: sent.SealedAt, Interval: interval}
	err = p.updateHeartbeats(to, func(c *channelHeartbeats) {
		c.Sent = hb
		c.Pending = appendBounded(c.Pending, hb, maxPendingHeartbeats)
	})
	if err != nil {
		return sent, fmt.Errorf("heartbeat posted but not recorded: %w", err)
	}
	return sent, nil
}

// HeartbeatOf returns the heartbeat part of an opened letter, or nil if the
// letter is not a heartbeat (KindOf): a letter of another kind that
// carries a heartbeat part is not one.
func (p *Party) HeartbeatOf(rec *Received) (*Heartbeat, error) {
	return systemPart[Heartbeat](p, rec, KindHeartbeat)
}

// NoteHeartbeat records an opened letter in heartbeats.json if it is a
// heartbeat newer than the one recorded for its sender; it returns the
// heartbeat, or nil if the letter is not one. Receive calls it.
func (p *Party) NoteHeartbeat(rec *Received) (*Heartbeat, error) {
	hb, err := p.HeartbeatOf(rec)
	if err != nil || hb == nil {
		return hb, err
	}
	got := &HeartbeatReceived{ID: rec.ID, SentAt: hb.SentAt, OpenedAt: rec.OpenedAt, Interval: hb.Interval()}
	return hb, p.updateHeartbeats(rec.From, func(c *channelHeartbeats) {
		// By the time this device opened it: a sender's clock, or a
		// crafted sent_at, must not freeze the light.
		if c.Received == nil || !got.OpenedAt.Before(c.Received.OpenedAt) {
			c.Received = got
		}
	})
}

// noteRoundTrips looks up the sent records of the pending heartbeats of a
// channel for delivered receipts (collected by CollectReceipts), moves the
// newest delivered one to Delivered, and drops the delivered ones from
// Pending.
func (p *Party) noteRoundTrips(party string) error {
	m, err := p.loadHeartbeats()
	if err != nil || m[party] == nil || len(m[party].Pending) == 0 {
		return err
	}
	delivered := map[string]time.Time{}
	for _, hb := range m[party].Pending {
		s, err := p.Sent(hb.ID)
		if err != nil {
			continue
		}
		for _, raw := range s.Receipts {
			if rc, err := envelope.ParseReceipt(raw); err == nil && rc.Kind == envelope.Delivered {
				delivered[hb.ID] = rc.Time
			}
		}
	}
	if len(delivered) == 0 {
		return nil
	}
	return p.updateHeartbeats(party, func(c *channelHeartbeats) {
		c.Pending = slices.DeleteFunc(c.Pending, func(hb *HeartbeatSent) bool {
			at, ok := delivered[hb.ID]
			if !ok {
				return false
			}
			hb.DeliveredAt = &at
			if c.Delivered == nil || c.Delivered.SealedAt.Before(hb.SealedAt) {
				c.Delivered = hb
			}
			return true
		})
	})
}

// Contacts lists the parties pinned in contacts/, by name.
func (p *Party) Contacts() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(p.dir, "contacts"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if party, ok := strings.CutSuffix(e.Name(), ".json"); ok && !e.IsDir() && !strings.HasPrefix(party, ".") {
			out = append(out, party)
		}
	}
	return out, nil
}

// ChannelStatus is the state of one channel, as this device sees it.
type ChannelStatus struct {
	Channel  string        `json:"channel"` // the other party
	Light    string        `json:"light"`   // Green, Amber or Red
	Interval time.Duration `json:"interval_ns"`
	// LastSent is the newest heartbeat sent; LastDelivered the newest
	// whose delivered receipt was collected, with the round trip (RTT).
	LastSent      *HeartbeatSent `json:"last_sent,omitempty"`
	LastDelivered *HeartbeatSent `json:"last_delivered,omitempty"`
	RTTMillis     *float64       `json:"rtt_ms,omitempty"`
	// LastReceived is the newest heartbeat opened from the other party.
	LastReceived *HeartbeatReceived `json:"last_received,omitempty"`
	RelayError   string             `json:"relay_error,omitempty"`
	// TestLetters is the state of the channel's test letters, nil if
	// none went either way.
	TestLetters *TestLetterStatus `json:"test_letters,omitempty"`
	// RosterChanges are the changes of the other party's roster seen
	// here in the last RosterChangesShown.
	RosterChanges []RosterChange `json:"roster_changes,omitempty"`
}

// RosterChangesShown is how long Status shows a change of a contact's
// roster.
const RosterChangesShown = 7 * 24 * time.Hour

// Status returns the light of each channel (each pinned contact), from the
// heartbeats recorded in heartbeats.json, at the party's clock. Outbound,
// a heartbeat counts from its sealing once its delivered receipt has been
// collected (CollectReceipts); inbound, from the time it was opened. A
// heartbeat is within one interval if it is no older than 1.5 intervals
// (the slack absorbs the two sides' timers being out of phase). The relay
// is asked for the mailbox once: if it cannot be reached, every channel is
// red. interval 0 means, per channel, the interval of the last heartbeat
// sent, else DefaultHeartbeatInterval. Each channel's test letters are
// reported with it (TestLetters), their receipts' times filled in from the
// receipts collected.
func (p *Party) Status(ctx context.Context, interval time.Duration) ([]ChannelStatus, error) {
	contacts, err := p.Contacts()
	if err != nil {
		return nil, err
	}
	var relayErr string
	if _, err := p.Mailbox(ctx); err != nil {
		relayErr = err.Error()
	}
	now := p.now()
	changes, err := p.RecentRosterChanges(now.Add(-RosterChangesShown))
	if err != nil {
		return nil, err
	}
	var out []ChannelStatus
	for _, party := range contacts {
		if err := p.noteRoundTrips(party); err != nil {
			return nil, err
		}
		if err := p.noteTestRoundTrips(party); err != nil {
			return nil, err
		}
		m, err := p.loadHeartbeats()
		if err != nil {
			return nil, err
		}
		c := m[party]
		if c == nil {
			c = &channelHeartbeats{}
		}
		st := ChannelStatus{Channel: party, Interval: interval, LastSent: c.Sent, LastDelivered: c.Delivered,
			LastReceived: c.Received, RelayError: relayErr}
		if st.TestLetters, err = p.testLetterStatus(party, now); err != nil {
			return nil, err
		}
		st.RosterChanges = changes[party]
		if st.Interval <= 0 && c.Sent != nil {
			st.Interval = c.Sent.Interval
		}
		if st.Interval <= 0 {
			st.Interval = DefaultHeartbeatInterval
		}
		if c.Delivered != nil {
			ms := float64(c.Delivered.RTT()) / float64(time.Millisecond)
			st.RTTMillis = &ms
		}
		var lastOut, lastIn time.Time
		if c.Delivered != nil {
			lastOut = c.Delivered.SealedAt
		}
		if c.Received != nil {
			lastIn = c.Received.OpenedAt
		}
		st.Light = light(now, lastOut, lastIn, st.Interval, inboundInterval(st.Interval, c.Received), relayErr != "")
		out = append(out, st)
	}
	return out, nil
}

// light is the light of a channel whose newest heartbeats each way are out
// and in (zero: none), expected every outEvery and inEvery: see package
// light; red if the relay is unreachable.
func light(now, out, in time.Time, outEvery, inEvery time.Duration, relayDown bool) string {
	if relayDown {
		return Red
	}
	return lightpkg.Judge(now, out, in, outEvery, inEvery)
}

// maxPeerInterval bounds the interval that the other party's heartbeats
// may announce for themselves (Heartbeat.Interval), so that one heartbeat
// cannot keep the inbound light green for longer than a day and a half.
const maxPeerInterval = 24 * time.Hour

// inboundInterval is the interval by which heartbeats from the other
// party are judged: the longer of this device's interval and the one the
// last heartbeat received announced (interval_s, at most a day). A party
// that sends less often than this device is not red for it.
func inboundInterval(own time.Duration, last *HeartbeatReceived) time.Duration {
	if last == nil {
		return own
	}
	return max(own, min(last.Interval, maxPeerInterval))
}
