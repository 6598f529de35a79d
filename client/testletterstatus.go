package client

import "time"

// TestLetterStatus is the state of a channel's test letters each way, as
// this device sees it.
type TestLetterStatus struct {
	// Out: the newest test letter sent, and the newest acknowledged one
	// with its round trip from the posted receipt's time to the delivered
	// and to the acknowledged receipt's time.
	LastSent                 *TestLetterSent `json:"last_sent,omitempty"`
	LastAcknowledged         *TestLetterSent `json:"last_acknowledged,omitempty"`
	PostToDeliveredMillis    *float64        `json:"post_to_delivered_ms,omitempty"`
	PostToAcknowledgedMillis *float64        `json:"post_to_acknowledged_ms,omitempty"`
	// Missing lists the test letters sent and not acknowledged by their
	// due time, oldest first: an alarm.
	Missing []TestLetterSent `json:"missing,omitempty"`
	// In: the newest test letter opened from the other party, the newest
	// whose acknowledged receipt went out, and how long after its sending
	// (the sender's clock) this device acknowledged that one.
	LastReceived             *TestLetterReceived `json:"last_received,omitempty"`
	LastReceivedAcknowledged *TestLetterReceived `json:"last_received_acknowledged,omitempty"`
	SentToAcknowledgedMillis *float64            `json:"received_sent_to_acknowledged_ms,omitempty"`
}

// testLetterStatus returns the test letter state of a channel at now, or
// nil if no test letter went either way. Call noteTestRoundTrips first.
func (p *Party) testLetterStatus(party string, now time.Time) (*TestLetterStatus, error) {
	m, err := p.loadTestLetters()
	if err != nil {
		return nil, err
	}
	c := m[party]
	if c == nil || (c.Sent == nil && c.Received == nil) {
		return nil, nil
	}
	st := &TestLetterStatus{LastSent: c.Sent, LastAcknowledged: c.Acknowledged,
		LastReceived: c.Received, LastReceivedAcknowledged: c.ReceivedAcked}
	if a := c.Acknowledged; a != nil && a.PostedAt != nil {
		st.PostToDeliveredMillis = millisBetween(*a.PostedAt, a.DeliveredAt)
		st.PostToAcknowledgedMillis = millisBetween(*a.PostedAt, a.AcknowledgedAt)
	}
	if r := c.ReceivedAcked; r != nil {
		st.SentToAcknowledgedMillis = millisBetween(r.SentAt, r.AcknowledgedAt)
	}
	for _, tl := range c.Pending {
		if tl.AcknowledgedAt == nil && now.After(tl.Due) {
			st.Missing = append(st.Missing, *tl)
		}
	}
	return st, nil
}

// millisBetween returns the milliseconds from a to b, or nil if b is nil.
func millisBetween(a time.Time, b *time.Time) *float64 {
	if b == nil {
		return nil
	}
	ms := float64(b.Sub(a)) / float64(time.Millisecond)
	return &ms
}
