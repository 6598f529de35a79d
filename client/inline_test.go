package client_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/api"
)

// events collects the envelope events of p's stream until the test ends.
func events(t *testing.T, p *client.Party) <-chan api.MailboxEntry {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ready, out := make(chan struct{}), make(chan api.MailboxEntry, 16)
	go p.Events(ctx, func() { close(ready) }, func(e api.MailboxEntry) error { out <- e; return nil })
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("the event stream did not open")
	}
	return out
}

func nextEvent(t *testing.T, ch <-chan api.MailboxEntry, id string) api.MailboxEntry {
	t.Helper()
	select {
	case e := <-ch:
		if e.ID != id {
			t.Fatalf("event for %s, want %s", e.ID, id)
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatalf("no event for %s", id)
	}
	return api.MailboxEntry{}
}

// TestEventCarriesSmallEnvelope checks that an event carries a small
// envelope, which the recipient opens without fetching it, with every
// check a fetched one gets: a tampered or cut envelope in an event is
// refused, nothing is archived and no receipt is sent. A large envelope
// is announced without itself, and fetched.
func TestEventCarriesSmallEnvelope(t *testing.T) {
	_, wash, teh := pair(t)
	ctx := context.Background()
	ch := events(t, teh)
	small, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "small", Body: []byte("inline")})
	if err != nil {
		t.Fatal(err)
	}
	e := nextEvent(t, ch, small.ID)
	other, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "other", Body: []byte("another")})
	if err != nil {
		t.Fatal(err)
	}
	o := nextEvent(t, ch, other.ID)
	h, err := envelope.ReadHeader(bytes.NewReader(e.Envelope))
	if err != nil || h.ID.String() != small.ID || uint64(len(e.Envelope)) != 2+uint64(len(h.Raw))+h.Size {
		t.Fatalf("event's envelope: %v, %d bytes", err, len(e.Envelope))
	}
	tampered := func(f func(b []byte) []byte) api.MailboxEntry {
		c := e
		c.Envelope = f(bytes.Clone(e.Envelope))
		return c
	}
	for name, bad := range map[string]api.MailboxEntry{
		"ciphertext": tampered(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }),
		"header":     tampered(func(b []byte) []byte { b[2+len(h.Raw)-1] ^= 1; return b }),
		"cut":        tampered(func(b []byte) []byte { return b[:len(b)-1] }),
		"longer":     tampered(func(b []byte) []byte { return append(b, 0) }),
		"another":    tampered(func([]byte) []byte { return bytes.Clone(o.Envelope) }),
	} {
		if _, err := teh.ReceiveEvent(ctx, bad); err == nil {
			t.Errorf("%s: a tampered envelope in an event was received", name)
		}
		if _, err := teh.Letter(small.ID); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: something was archived: %v", name, err)
		}
	}
	if box, err := teh.Mailbox(ctx); err != nil || len(box) != 2 {
		t.Fatalf("a receipt went out for a refused envelope: %v %+v", err, box)
	}
	rec, err := teh.ReceiveEvent(ctx, e)
	if err != nil || rec.Subject != "small" {
		t.Fatalf("received from the event: %v %+v", err, rec)
	}
	o.Envelope = []byte{} // as "envelope": "" decodes: fetched
	if rec, err := teh.ReceiveEvent(ctx, o); err != nil || rec.Subject != "other" {
		t.Fatalf("received without the event's envelope: %v %+v", err, rec)
	}
	if box, err := teh.Mailbox(ctx); err != nil || len(box) != 0 {
		t.Fatalf("no delivered receipts: %v %+v", err, box)
	}

	large, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "large", Body: bytes.Repeat([]byte("x"), api.EventEnvelopeLimit+1)})
	if err != nil {
		t.Fatal(err)
	}
	e = nextEvent(t, ch, large.ID)
	if e.Envelope != nil || e.Size <= api.EventEnvelopeLimit {
		t.Fatalf("an event carried an envelope of %d bytes", e.Size)
	}
	if rec, err := teh.ReceiveEvent(ctx, e); err != nil || rec.Subject != "large" {
		t.Fatalf("fetched after the event: %v", err)
	}
}
