package client_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/internal/testrelay"
)

// heldEpochs returns the numbers of the epochs p holds.
func heldEpochs(p *client.Party) []uint32 {
	var out []uint32
	for _, e := range p.Epochs() {
		if e.Held {
			out = append(out, e.Number)
		}
	}
	return out
}

// sendTo sends one letter from p to party and returns its id.
func sendTo(t *testing.T, p *client.Party, party, body string) string {
	t.Helper()
	sent, _, err := p.Send(context.Background(), client.Outgoing{To: party, Subject: "s", Precedence: envelope.Routine, Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	return sent.ID
}

// refresh has p follow party's roster at the relay.
func refresh(t *testing.T, p *client.Party, party string) {
	t.Helper()
	if _, err := p.RefreshContact(context.Background(), party); err != nil {
		t.Fatal(err)
	}
}

// TestRotateEpoch: the root holder makes epoch 2; the other device fetches
// it from the relay when it follows the roster; tehran, following the
// roster, seals to it and both devices open the letter.
func TestRotateEpoch(t *testing.T) {
	w, laptop, terminal, teh := twoDevices(t)
	ctx := context.Background()
	ch, err := laptop.RotateEpoch(ctx, client.EpochOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Added != 2 || len(ch.Destroyed) != 0 || ch.Roster.Serial != 3 {
		t.Fatalf("rotation: %+v", ch)
	}
	if got := heldEpochs(terminal); len(got) != 1 {
		t.Fatalf("terminal holds %v before following the roster", got)
	}
	if _, err := terminal.RefreshRoster(ctx); err != nil {
		t.Fatal(err)
	}
	if got := heldEpochs(terminal); len(got) != 2 || got[1] != 2 {
		t.Fatalf("terminal holds %v", got)
	}
	if _, err := os.Stat(filepath.Join(terminal.Dir(), "epochs", "2.age")); err != nil {
		t.Fatal(err)
	}
	// A second rotation without the interval passed changes nothing.
	if ch, err := laptop.RotateEpoch(ctx, client.EpochOptions{IfOlderThan: client.DefaultEpochEvery}); err != nil || ch.Added != 0 {
		t.Fatalf("rotation not due: %+v %v", ch, err)
	}
	refresh(t, teh, "washington")
	id := sendTo(t, teh, "washington", "to epoch 2")
	for _, p := range []*client.Party{laptop, terminal} {
		rec, err := p.Receive(ctx, id)
		if err != nil {
			t.Fatalf("%s: %v", p.Device(), err)
		}
		eh, _ := envelope.Parse(rec.Envelope)
		if eh.Epoch != 2 {
			t.Fatalf("sealed to epoch %d", eh.Epoch)
		}
	}
	// Only a device holding the root key rotates.
	if _, err := terminal.RotateEpoch(ctx, client.EpochOptions{}); !errors.Is(err, client.ErrNoRootKey) {
		t.Fatalf("rotation on a device without the root key: %v", err)
	}
	_ = w
}

// TestEpochBundleSwapped: the relay gives a device a bundle that opens
// with the device's key but holds another epoch secret than the roster
// names. The device refuses it and keeps nothing.
func TestEpochBundleSwapped(t *testing.T) {
	w, laptop, terminal, _ := twoDevices(t)
	ctx := context.Background()
	if _, err := laptop.RotateEpoch(ctx, client.EpochOptions{}); err != nil {
		t.Fatal(err)
	}
	other, err := identity.NewEpochKey()
	if err != nil {
		t.Fatal(err)
	}
	forged, err := identity.SealEpoch(other, laptop.Roster().Devices)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Store.PutEpochBundle(ctx, "washington", 2, forged); err != nil {
		t.Fatal(err)
	}
	_, err = terminal.RefreshRoster(ctx)
	if err == nil || !strings.Contains(err.Error(), "another key than the roster names for epoch 2") {
		t.Fatalf("swapped bundle: %v", err)
	}
	if got := heldEpochs(terminal); len(got) != 1 {
		t.Fatalf("terminal holds %v", got)
	}
	if _, err := os.Stat(filepath.Join(terminal.Dir(), "epochs", "2.age")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("epochs/2.age: %v", err)
	}
	// The genuine bundle put back, the device takes it.
	if err := w.Store.PutEpochBundle(ctx, "washington", 2, mustRead(t, filepath.Join(laptop.Dir(), "epochs", "2.age"))); err != nil {
		t.Fatal(err)
	}
	if _, err := terminal.RefreshRoster(ctx); err != nil {
		t.Fatal(err)
	}
	if got := heldEpochs(terminal); len(got) != 2 {
		t.Fatalf("terminal holds %v", got)
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRemovedDeviceGetsNoLaterEpoch: removing a device makes a new epoch
// sealed only to the devices that remain. A letter sealed to it opens on
// the remaining device; the removed device's keys, the epoch secrets it
// holds, and the relay's bundle opened with its key do not open it.
func TestRemovedDeviceGetsNoLaterEpoch(t *testing.T) {
	w, laptop, terminal, teh := twoDevices(t)
	ctx := context.Background()
	before := sendTo(t, teh, "washington", "before the removal")
	if _, err := terminal.Receive(ctx, before); err != nil {
		t.Fatal(err)
	}
	r, err := laptop.RemoveDevice(ctx, "terminal")
	if err != nil {
		t.Fatal(err)
	}
	if r.Device("terminal") != nil || len(r.Epochs) != 2 || r.Epochs[1].Number != 2 {
		t.Fatalf("roster after removal: %d epochs, terminal %v", len(r.Epochs), r.Device("terminal") != nil)
	}
	refresh(t, teh, "washington")
	after := sendTo(t, teh, "washington", "after the removal")
	rec, err := laptop.Receive(ctx, after)
	if err != nil {
		t.Fatal(err)
	}
	sealed := mustRead(t, filepath.Join(laptop.LetterDir(rec.ID), client.SealedName))

	// Every age identity the removed device holds: its own, and each
	// epoch secret in its folder, opened with it.
	ks := w.Keys(terminal)
	ids := []age.Identity{ks.Age}
	files, _ := filepath.Glob(filepath.Join(terminal.Dir(), "epochs", "*.age"))
	for _, f := range files {
		if id, err := identity.OpenEpoch(mustRead(t, f), ks.Age); err == nil {
			ids = append(ids, id)
		}
	}
	if len(ids) != 2 {
		t.Fatalf("the removed device holds %d identities, want its own and epoch 1", len(ids))
	}
	if _, err := age.Decrypt(strings.NewReader(string(sealed)), ids...); err == nil {
		t.Fatal("the removed device's keys open a letter sealed after its removal")
	}
	// The relay's bundle of epoch 2 is not sealed to it.
	bundle, err := w.Store.EpochBundle(ctx, "washington", 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := identity.OpenEpoch(bundle, ks.Age); err == nil {
		t.Fatal("the removed device opens the bundle of the epoch made at its removal")
	}
	// Nor can it fetch it: the relay no longer takes its requests.
	var re *client.RelayError
	if _, err := terminal.RefreshRoster(ctx); !errors.As(err, &re) || re.Code != "not_on_roster" {
		t.Fatalf("removed device following its roster: %v", err)
	}
	if got := heldEpochs(terminal); len(got) != 1 {
		t.Fatalf("the removed device holds epochs %v", got)
	}
	// The laptop's epoch secrets open it: the test can tell.
	lk := w.Keys(laptop)
	if id, err := identity.OpenEpoch(bundle, lk.Age); err != nil {
		t.Fatal(err)
	} else if _, err := age.Decrypt(strings.NewReader(string(sealed)), id); err != nil {
		t.Fatal(err)
	}
}

// TestLetterToDestroyedEpoch: a letter sealed to epoch 1 and still in the
// mailbox when epoch 1 is destroyed no longer opens; the device says so in
// those words and archives nothing.
func TestLetterToDestroyedEpoch(t *testing.T) {
	_, wash, teh := pair(t)
	ctx := context.Background()
	id := sendTo(t, teh, "washington", "in flight")
	if _, err := wash.RotateEpoch(ctx, client.EpochOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := wash.DestroyEpochs(ctx, []uint32{1}, 0); err != nil {
		t.Fatal(err)
	}
	_, err := wash.Receive(ctx, id)
	if err == nil || !strings.Contains(err.Error(), "letter "+id+" is sealed to epoch 1, destroyed on ") {
		t.Fatalf("letter to a destroyed epoch: %v", err)
	}
	if _, err := wash.Letter(id); err == nil {
		t.Fatal("archived")
	}
	// The relay refuses a letter to epoch 1 from a sender that did not
	// follow the roster; the refusal makes the sender follow it, so the
	// letter sent again is sealed to epoch 2.
	_, _, err = teh.Send(ctx, client.Outgoing{To: "washington", Subject: "s", Precedence: envelope.Routine, Body: []byte("b")})
	var re *client.RefusedError
	if !errors.As(err, &re) || re.Err.Code != api.CodeEpoch {
		t.Fatalf("a letter sealed to a destroyed epoch: %v", err)
	}
	rec, err := wash.Receive(ctx, sendTo(t, teh, "washington", "to epoch 2"))
	if err != nil {
		t.Fatal(err)
	}
	if eh, _ := envelope.Parse(rec.Envelope); eh.Epoch != 2 {
		t.Fatalf("sealed to epoch %d", eh.Epoch)
	}
}

// TestEpochRetention: with a clock past every epoch's expiry, a rotation
// keeps the newest Keep epochs and destroys the older ones; a destruction
// by retention then drops what is past it; a rotation is due and an
// expiring epoch is reported.
func TestEpochRetention(t *testing.T) {
	_, wash, _ := pair(t)
	ctx := context.Background()
	for range 2 {
		if _, err := wash.RotateEpoch(ctx, client.EpochOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if wash.EpochRotationDue(client.DefaultEpochEvery, 0) || wash.EpochExpiring(client.EpochWarnBefore) != nil {
		t.Fatal("a new epoch is due for rotation or expiring")
	}
	// Nothing expired: retention destroys nothing.
	if ch, err := wash.DestroyEpochs(ctx, nil, 1); err != nil || len(ch.Destroyed) != 0 {
		t.Fatalf("retention of unexpired epochs: %+v %v", ch, err)
	}
	now := time.Now()
	later, err := client.Load(wash.Dir(), testrelay.Passphrase, client.Options{Now: func() time.Time { return now.Add(client.DefaultEpochLifetime + time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	defer later.Close()
	if !later.EpochRotationDue(client.DefaultEpochEvery, 0) {
		t.Fatal("no rotation due when every epoch expired")
	}
	if e := later.EpochExpiring(client.EpochWarnBefore); e == nil || e.Number != 3 {
		t.Fatalf("expiring: %+v", e)
	}
	ch, err := later.RotateEpoch(ctx, client.EpochOptions{Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Added != 4 || !slices.Equal(ch.Destroyed, []uint32{1, 2}) {
		t.Fatalf("rotation keeping 2: added %d, destroyed %v", ch.Added, ch.Destroyed)
	}
	if ch, err = later.DestroyEpochs(ctx, nil, 1); err != nil || !slices.Equal(ch.Destroyed, []uint32{3}) {
		t.Fatalf("retention of 1: %+v %v", ch, err)
	}
	if got := heldEpochs(later); !slices.Equal(got, []uint32{4}) {
		t.Fatalf("held: %v", got)
	}
	list, err := later.DestroyedEpochs()
	if err != nil || len(list) != 3 || list[0].Number != 1 || list[2].Number != 3 || list[0].NotAfter.IsZero() || list[0].HeldSince.IsZero() {
		t.Fatalf("destroyed.json: %+v %v", list, err)
	}
	// The first device object follows: its files were removed under it.
	if _, err := wash.RefreshRoster(ctx); err != nil {
		t.Fatal(err)
	}
	if got := heldEpochs(wash); !slices.Equal(got, []uint32{4}) {
		t.Fatalf("held by the first view: %v", got)
	}
}
