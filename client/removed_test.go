package client_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/testrelay"
	"brieftraeger/store"
)

// A letter a device posted before its removal still opens after the
// receiver followed the removal; one it signed and that reached the log
// after the removal is refused, even if a relay stored it.
func TestLetterFromRemovedDevice(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	term := w.AddDevice(wash, "terminal")
	before, _, err := term.Send(ctx, client.Outgoing{To: "tehran", Subject: "before", Precedence: envelope.Routine, Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	late := testrelay.Envelopes(t, term, w.Keys(term), "tehran", 1)[0] // signed now, posted after the removal
	testrelay.SettleLog(t, w.Store)
	if _, err := wash.RemoveDevice(ctx, "terminal"); err != nil {
		t.Fatal(err)
	}
	if _, err := teh.RefreshContact(ctx, "washington"); err != nil {
		t.Fatal(err)
	}
	if rec, err := teh.Receive(ctx, before.ID); err != nil || rec.Subject != "before" {
		t.Fatalf("a letter posted before the removal: %v", err)
	}

	// A relay that takes the removed device's letter all the same (here,
	// written straight into its store) does not get it opened.
	r := bytes.NewReader(late)
	h, err := envelope.ReadHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Store.Post(ctx, store.Post{ID: h.ID.String(), From: h.From, To: h.To, Precedence: uint8(h.Precedence),
		Header: h.Raw, Body: r, BodySize: int64(h.Size), BodySHA256: h.Digest}); err != nil {
		t.Fatal(err)
	}
	testrelay.SettleLog(t, w.Store)
	_, err = teh.Receive(ctx, h.ID.String())
	var lr *client.LetterRefusedError
	if !errors.As(err, &lr) || !strings.Contains(err.Error(), "removed from the roster") {
		t.Fatalf("a letter posted after the removal: %v", err)
	}
}

// A receipt a device filed before its removal still counts after the
// sender followed the removal: it is not set aside.
func TestReceiptFromRemovedDevice(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	desk := w.AddDevice(teh, "desk")
	sent, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "s", Precedence: envelope.Routine, Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := desk.Receive(ctx, sent.ID); err != nil {
		t.Fatal(err)
	}
	testrelay.SettleLog(t, w.Store)
	if _, err := teh.RemoveDevice(ctx, "desk"); err != nil {
		t.Fatal(err)
	}
	if _, err := wash.RefreshContact(ctx, "tehran"); err != nil {
		t.Fatal(err)
	}
	got, refused, err := wash.CollectReceiptsAndRefusals(ctx)
	if err != nil || len(refused) != 0 || len(got) != 1 {
		t.Fatalf("receipts %d, set aside %+v, %v", len(got), refused, err)
	}
}

// A receipt from a device the recipient added after this device last
// followed its roster counts: the roster is followed once before it is
// set aside.
func TestReceiptFromNewDevice(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	desk := w.AddDevice(teh, "desk")
	sent, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "s", Precedence: envelope.Routine, Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := desk.Receive(ctx, sent.ID); err != nil {
		t.Fatal(err)
	}
	got, refused, err := wash.CollectReceiptsAndRefusals(ctx)
	if err != nil || len(refused) != 0 || len(got) != 1 {
		t.Fatalf("receipts %d, set aside %+v, %v", len(got), refused, err)
	}
}

// A letter posted before the removal and logged in the same round as the
// roster that removed its device is logged before it, in the order the
// relay took them, and so opens.
func TestLetterSameRoundAsRemoval(t *testing.T) {
	w := testrelay.Start(t, testrelay.Options{LogInterval: 3 * time.Second})
	wash, teh := w.Party("washington"), w.Party("tehran")
	w.Connect(wash, teh)
	ctx := context.Background()
	term := w.AddDevice(wash, "terminal")
	testrelay.SettleLog(t, w.Store)
	before, _, err := term.Send(ctx, client.Outgoing{To: "tehran", Subject: "before", Precedence: envelope.Routine, Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wash.RemoveDevice(ctx, "terminal"); err != nil {
		t.Fatal(err)
	}
	if _, err := teh.RefreshContact(ctx, "washington"); err != nil {
		t.Fatal(err)
	}
	if _, err := teh.Receive(ctx, before.ID); err != nil {
		t.Fatalf("a letter posted, and acknowledged as posted, before the removal: %v", err)
	}
}
