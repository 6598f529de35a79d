package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"brieftraeger/envelope"
)

// TestLetterMediaType is the media type of a test letter's part: a small
// JSON object {"sent_at": RFC 3339 time, "nonce": 32 hex digits}. Like the
// hotline's hourly test message, a test letter goes through a channel end
// to end; the receiving device acknowledges it as soon as it opens it, so
// that its sender measures the whole round trip: sealed, posted,
// delivered, acknowledged. It is otherwise an ordinary sealed, signed
// letter of a fixed form (precedence IMMEDIATE, subject "test letter", see
// KindOf). A letter of another form that carries such a part is an
// ordinary letter, never acknowledged without a person.
const TestLetterMediaType = "application/vnd.brieftraeger.test-letter"

// TestLetterSubject is the subject of every test letter.
const TestLetterSubject = "test letter"

// TestLetterBody is the body text of every test letter.
const TestLetterBody = "test letter: acknowledged automatically when opened\n"

// DefaultTestEvery is how often 'brief watch' sends a test letter on each
// channel unless told otherwise.
const DefaultTestEvery = time.Hour

// testLetterName is the file name of the test letter part.
const testLetterName = "test-letter.json"

// testLettersFile is the party folder's file of test letters per channel.
const testLettersFile = "testletters.json"

// maxPendingTestLetters bounds how many sent test letters without an
// acknowledged receipt are remembered per channel.
const maxPendingTestLetters = 16

// TestLetter is the content of a test letter part.
type TestLetter struct {
	SentAt time.Time `json:"sent_at"`
	Nonce  string    `json:"nonce"` // 16 random bytes in hex: no two test letters are alike
}

// TestLetterSent is a test letter this device sent, with the times of its
// receipts as they are collected.
type TestLetterSent struct {
	ID             string     `json:"id"`
	SealedAt       time.Time  `json:"sealed_at"`
	Due            time.Time  `json:"due"`                       // acknowledged by then, or it is missing
	PostedAt       *time.Time `json:"posted_at,omitempty"`       // the posted receipt's time (the relay's clock)
	DeliveredAt    *time.Time `json:"delivered_at,omitempty"`    // the delivered receipt's time (the recipient's clock)
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"` // the acknowledged receipt's time (the recipient's clock)
}

// TestLetterReceived is a test letter this device opened and acknowledged.
type TestLetterReceived struct {
	ID             string     `json:"id"`
	SentAt         time.Time  `json:"sent_at"`   // the sender's clock
	OpenedAt       time.Time  `json:"opened_at"` // this device's clock, as are the receipts
	DeliveredAt    *time.Time `json:"delivered_at,omitempty"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"` // nil until the acknowledged receipt went out
}

// channelTestLetters is one channel's entry in testletters.json.
type channelTestLetters struct {
	Sent          *TestLetterSent     `json:"sent,omitempty"`                  // newest test letter sent
	Acknowledged  *TestLetterSent     `json:"acknowledged,omitempty"`          // newest with an acknowledged receipt: the last full round trip
	Pending       []*TestLetterSent   `json:"pending,omitempty"`               // sent, acknowledged receipt not yet seen
	Received      *TestLetterReceived `json:"received,omitempty"`              // newest test letter opened
	ReceivedAcked *TestLetterReceived `json:"received_acknowledged,omitempty"` // newest opened whose acknowledged receipt went out
}

func (p *Party) loadTestLetters() (map[string]*channelTestLetters, error) {
	return loadChannels[channelTestLetters](p, testLettersFile)
}

func (p *Party) updateTestLetters(party string, fn func(*channelTestLetters)) error {
	return updateChannel(p, testLettersFile, party, fn)
}

// TestLetterDue reports whether a test letter to party is due: none was
// sent, or the newest was sealed at least every ago.
func (p *Party) TestLetterDue(party string, every time.Duration) (bool, error) {
	m, err := p.loadTestLetters()
	if err != nil {
		return false, err
	}
	c := m[party]
	return c == nil || c.Sent == nil || p.now().Sub(c.Sent.SealedAt) >= every, nil
}

// SendTestLetter sends a test letter to party and records it in
// testletters.json, expecting its acknowledged receipt within wait.
func (p *Party) SendTestLetter(ctx context.Context, to string, wait time.Duration) (*SentLetter, error) {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	sent, posted, err := p.sendJSONPart(ctx, to, KindTestLetter, TestLetter{SentAt: p.now(), Nonce: hex.EncodeToString(nonce)})
	if err != nil {
		return nil, fmt.Errorf("failed to send test letter: %w", err)
	}
	at := posted.Time
	tl := &TestLetterSent{ID: sent.ID, SealedAt: sent.SealedAt, Due: sent.SealedAt.Add(wait), PostedAt: &at}
	err = p.updateTestLetters(to, func(c *channelTestLetters) {
		c.Sent = tl
		c.Pending = appendBounded(c.Pending, tl, maxPendingTestLetters)
	})
	if err != nil {
		return sent, fmt.Errorf("test letter posted but not recorded: %w", err)
	}
	return sent, nil
}

// TestLetterOf returns the test letter part of an opened letter, or nil if
// the letter is not a test letter (KindOf): a letter of another kind that
// carries a test letter part is not one, and is never acknowledged by the
// device.
func (p *Party) TestLetterOf(rec *Received) (*TestLetter, error) {
	return systemPart[TestLetter](p, rec, KindTestLetter)
}

// NoteTestLetter acknowledges an opened letter at once if it is a test
// letter, and records it in testletters.json; it returns the test letter,
// or nil if the letter is not one. Receive calls it. If the acknowledged
// receipt cannot be sent, the record says so and AckTestLetters tries
// again.
func (p *Party) NoteTestLetter(ctx context.Context, rec *Received) (*TestLetter, error) {
	tl, err := p.TestLetterOf(rec)
	if err != nil || tl == nil {
		return tl, err
	}
	got := &TestLetterReceived{ID: rec.ID, SentAt: tl.SentAt, OpenedAt: rec.OpenedAt}
	err = p.updateTestLetters(rec.From, func(c *channelTestLetters) {
		if c.Received == nil || c.Received.ID == got.ID || !got.OpenedAt.Before(c.Received.OpenedAt) {
			c.Received = got
		}
	})
	if err != nil {
		return tl, err
	}
	return tl, p.ackTestLetter(ctx, rec)
}

// AckTestLetters sends the acknowledged receipt of the newest test letter
// opened on each channel if it has not gone out yet. A letter no longer in
// the archive is passed over.
func (p *Party) AckTestLetters(ctx context.Context) error {
	m, err := p.loadTestLetters()
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range m {
		if c.Received == nil || c.Received.AcknowledgedAt != nil {
			continue
		}
		rec, err := p.Letter(c.Received.ID)
		if err == nil {
			err = p.ackTestLetter(ctx, rec)
		} else if errors.Is(err, os.ErrNotExist) {
			continue
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ackTestLetter sends the acknowledged receipt of an opened test letter
// and records the receipts' times with it.
func (p *Party) ackTestLetter(ctx context.Context, rec *Received) error {
	if k := p.KindOf(rec); k != KindTestLetter {
		return fmt.Errorf("letter %s is not a test letter but a %s: only a person acknowledges it", rec.ID, k)
	}
	if err := p.fileReceipt(ctx, rec, envelope.Acknowledged); err != nil {
		return fmt.Errorf("failed to acknowledge test letter %s: %w", rec.ID, err)
	}
	times := receiptTimes(rec.Receipts)
	return p.updateTestLetters(rec.From, func(c *channelTestLetters) {
		if c.Received != nil && c.Received.ID == rec.ID {
			c.Received.DeliveredAt, c.Received.AcknowledgedAt = times[envelope.Delivered], times[envelope.Acknowledged]
			if c.Received.AcknowledgedAt != nil {
				acked := *c.Received
				c.ReceivedAcked = &acked
			}
		}
	})
}

// receiptTimes returns the time of each kind of receipt among raw.
func receiptTimes(raw [][]byte) map[envelope.Kind]*time.Time {
	out := map[envelope.Kind]*time.Time{}
	for _, b := range raw {
		if rc, err := envelope.ParseReceipt(b); err == nil {
			t := rc.Time
			out[rc.Kind] = &t
		}
	}
	return out
}

// noteTestRoundTrips fills in the receipt times of the pending test
// letters of a channel from their sent records (receipts collected by
// CollectReceipts), moves the newest acknowledged one to Acknowledged,
// and drops the acknowledged ones from Pending.
func (p *Party) noteTestRoundTrips(party string) error {
	m, err := p.loadTestLetters()
	if err != nil || m[party] == nil || len(m[party].Pending) == 0 {
		return err
	}
	times := map[string]map[envelope.Kind]*time.Time{}
	for _, tl := range m[party].Pending {
		if s, err := p.Sent(tl.ID); err == nil {
			times[tl.ID] = receiptTimes(s.Receipts)
		}
	}
	return p.updateTestLetters(party, func(c *channelTestLetters) {
		c.Pending = slices.DeleteFunc(c.Pending, func(tl *TestLetterSent) bool {
			t, ok := times[tl.ID]
			if !ok {
				return false
			}
			tl.PostedAt, tl.DeliveredAt, tl.AcknowledgedAt = t[envelope.Posted], t[envelope.Delivered], t[envelope.Acknowledged]
			if c.Sent != nil && c.Sent.ID == tl.ID {
				c.Sent = tl
			}
			if tl.AcknowledgedAt == nil {
				return false
			}
			if c.Acknowledged == nil || c.Acknowledged.SealedAt.Before(tl.SealedAt) {
				c.Acknowledged = tl
			}
			return true
		})
	})
}
