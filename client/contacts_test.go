package client_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/identity"
	"brieftraeger/internal/testrelay"
)

// nextRoster signs the version after prev of p's roster with p's root key,
// read from p's keystore, and admits it at w. The new version drops every
// device of prev and names one new device, whose keystore it returns.
func nextRoster(t *testing.T, w *testrelay.World, p *client.Party, prev *identity.Roster, device string) (*identity.Roster, *identity.Keystore) {
	t.Helper()
	sealed, err := os.ReadFile(filepath.Join(p.Dir(), "keys.age"))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := identity.OpenKeystore(sealed, testrelay.Passphrase)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := identity.NewKeystore(p.Name(), device, false)
	if err != nil {
		t.Fatal(err)
	}
	next := &identity.Roster{Party: p.Name(), Serial: prev.Serial + 1, Root: prev.Root, Prev: prev.Hash(),
		Devices: []identity.Device{dev.DeviceEntry()}, Epochs: prev.Epochs}
	if err := next.Sign(ks.Root); err != nil {
		t.Fatal(err)
	}
	if err := w.Admin.Admit(context.Background(), p.Name(), next.Raw); err != nil {
		t.Fatal(err)
	}
	return next, dev
}

// moveTo admits p's roster at another relay w and returns p's folder
// loaded again with w as its relay, as if the relay p used had been
// replaced by w. The folder keeps its contacts.
func moveTo(t *testing.T, w *testrelay.World, p *client.Party) *client.Party {
	t.Helper()
	if err := w.Admin.Admit(context.Background(), p.Name(), p.Roster().Raw); err != nil {
		t.Fatal(err)
	}
	d, err := json.Marshal(w.Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.Dir(), "relay.json"), d, 0o600); err != nil {
		t.Fatal(err)
	}
	moved, err := client.Load(p.Dir(), testrelay.Passphrase, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moved.Close)
	return moved
}

// deliveredBy returns a delivered receipt for sent, signed by the device
// of tehran in ks.
func deliveredBy(t *testing.T, sent *client.SentLetter, ks *identity.Keystore) *envelope.Receipt {
	t.Helper()
	eh, err := envelope.Parse(sent.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	rc := &envelope.Receipt{Kind: envelope.Delivered, ID: eh.ID, Envelope: eh.Hash(), Party: ks.Party, Signer: ks.Device, Time: time.Now()}
	if err := rc.Sign(ks.Sign); err != nil {
		t.Fatal(err)
	}
	return rc
}

// TestRosterChainFollowed checks that a peer follows a party's roster from
// serial 1 to serial 2: a removed device is no longer trusted and the new
// one is, and a party pinned only now gets the newest version too.
func TestRosterChainFollowed(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	sent, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "s", Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	oldDev := w.Keys(teh)
	r2, newDev := nextRoster(t, w, teh, teh.Roster(), "dev-tehran-2")
	fromOld, fromNew := deliveredBy(t, sent, oldDev), deliveredBy(t, sent, newDev)

	// Until it refreshes, washington holds serial 1.
	if ros, err := wash.Contact("tehran"); err != nil || ros.Serial != 1 {
		t.Fatalf("contact before refresh: %v %+v", err, ros)
	}
	if err := wash.VerifyReceipt(sent, fromOld); err != nil {
		t.Fatalf("receipt by a device on serial 1 refused before refresh: %v", err)
	}

	ros, err := wash.RefreshContact(ctx, "tehran")
	if err != nil {
		t.Fatal(err)
	}
	if ros.Serial != 2 || ros.Hash() != r2.Hash() {
		t.Fatalf("refresh returned serial %d", ros.Serial)
	}
	ros, err = wash.Contact("tehran")
	if err != nil || ros.Serial != 2 {
		t.Fatalf("contact after refresh: %v %+v", err, ros)
	}
	if ros.Device("dev-tehran") != nil || ros.Device("dev-tehran-2") == nil {
		t.Fatalf("devices after refresh: %+v", ros.Devices)
	}
	if err := wash.VerifyReceipt(sent, fromOld); err == nil || !strings.Contains(err.Error(), "not on the roster") {
		t.Fatalf("receipt by the removed device: %v", err)
	}
	if err := wash.VerifyReceipt(sent, fromNew); err != nil {
		t.Fatalf("receipt by the new device refused: %v", err)
	}

	// Adding the same root again is a refresh that finds nothing new.
	if ros, err := wash.AddContact(ctx, "tehran", teh.Roster().Root); err != nil || ros.Serial != 2 {
		t.Fatalf("AddContact again: %v %+v", err, ros)
	}
	// A party that pins tehran only now verifies the whole chain.
	mos := w.Party("moscow")
	if ros, err := mos.AddContact(ctx, "tehran", teh.Roster().Root); err != nil || ros.Serial != 2 {
		t.Fatalf("new contact: %v %+v", err, ros)
	}

	// Serial 3 follows serial 2; the stored chain grows with it.
	nextRoster(t, w, teh, r2, "dev-tehran-3")
	if ros, err := wash.RefreshContact(ctx, "tehran"); err != nil || ros.Serial != 3 {
		t.Fatalf("refresh to serial 3: %v %+v", err, ros)
	}
}

// TestRosterForkRefused checks that a relay that shows a roster history
// other than the one seen before, hiding the newest version or replacing
// it with another signed one, is refused and the stored chain kept.
func TestRosterForkRefused(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	r2, _ := nextRoster(t, w, teh, teh.Roster(), "dev-tehran-2")
	if _, err := wash.RefreshContact(ctx, "tehran"); err != nil {
		t.Fatal(err)
	}

	// A second relay that knows tehran only at serial 1.
	w2 := testrelay.Start(t, testrelay.Options{})
	if err := w2.Admin.Admit(ctx, "tehran", teh.Roster().Raw); err != nil {
		t.Fatal(err)
	}
	wash2 := moveTo(t, w2, wash)
	assertFork := func(err error, serial uint64, missing bool) {
		t.Helper()
		var fork *client.RosterForkError
		if !errors.As(err, &fork) || fork.Party != "tehran" || fork.Serial != serial || fork.Missing != missing {
			t.Fatalf("got %v, want a fork at serial %d (missing %v)", err, serial, missing)
		}
		if !strings.Contains(err.Error(), `relay shows a roster history for "tehran" that forks from the one seen before`) {
			t.Fatalf("fork error reads %q", err)
		}
		ros, err := wash2.Contact("tehran")
		if err != nil || ros.Hash() != r2.Hash() {
			t.Fatalf("stored chain changed: %v %+v", err, ros)
		}
	}
	_, err := wash2.RefreshContact(ctx, "tehran")
	assertFork(err, 2, true)

	// Now it shows another serial 2, validly signed by tehran's root.
	fork2, _ := nextRoster(t, w2, teh, teh.Roster(), "dev-tehran-x")
	if ros, err := identity.VerifyChain(teh.Roster().Root, [][]byte{teh.Roster().Raw, fork2.Raw}); err != nil || ros.Serial != 2 {
		t.Fatalf("the fork should be a valid chain on its own: %v", err)
	}
	_, err = wash2.RefreshContact(ctx, "tehran")
	assertFork(err, 2, false)
	_, err = wash2.AddContact(ctx, "tehran", teh.Roster().Root)
	assertFork(err, 2, false)

	// And a fork that goes on past the version seen before.
	nextRoster(t, w2, teh, fork2, "dev-tehran-y")
	_, err = wash2.RefreshContact(ctx, "tehran")
	assertFork(err, 2, false)
}

// TestRosterChainFromAnotherRootRefused checks that a chain whose serial 1
// is not the pinned root's is refused, whether the user pinned another key
// or the relay shows a roster of its own making under the party's name.
func TestRosterChainFromAnotherRootRefused(t *testing.T) {
	w := testrelay.Start(t, testrelay.Options{})
	wash, teh := w.Party("washington"), w.Party("tehran")
	ctx := context.Background()
	other, _, _ := ed25519.GenerateKey(nil)
	if _, err := wash.AddContact(ctx, "tehran", other); err == nil || !strings.Contains(err.Error(), "does not chain to the pinned root key") {
		t.Fatalf("chain of another root: %v", err)
	}
	if _, err := wash.Contact("tehran"); !errors.Is(err, client.ErrUnknownContact) {
		t.Fatalf("a refused chain was stored: %v", err)
	}

	if _, err := wash.AddContact(ctx, "tehran", teh.Roster().Root); err != nil {
		t.Fatal(err)
	}
	// A relay where an impostor was admitted as tehran, with its own root.
	w2 := testrelay.Start(t, testrelay.Options{})
	impostor := w2.Party("tehran")
	if _, err := identity.VerifyChain(impostor.Roster().Root, [][]byte{impostor.Roster().Raw}); err != nil {
		t.Fatal(err)
	}
	wash2 := moveTo(t, w2, wash)
	if _, err := wash2.RefreshContact(ctx, "tehran"); err == nil || !strings.Contains(err.Error(), "does not chain to the pinned root key") {
		t.Fatalf("impostor's chain: %v", err)
	}
	if ros, err := wash2.Contact("tehran"); err != nil || ros.Hash() != teh.Roster().Hash() {
		t.Fatalf("stored chain changed: %v %+v", err, ros)
	}
}

// TestStoredChainVerified checks that Contact verifies the stored chain
// rather than trusting the file.
func TestStoredChainVerified(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	nextRoster(t, w, teh, teh.Roster(), "dev-tehran-2")
	if _, err := wash.RefreshContact(ctx, "tehran"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(wash.Dir(), "contacts", "tehran.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Root  []byte   `json:"root"`
		Chain [][]byte `json:"chain"`
	}
	if err := json.Unmarshal(data, &c); err != nil || len(c.Chain) != 2 {
		t.Fatalf("contact file: %v %s", err, data)
	}
	c.Chain = c.Chain[1:] // serial 2 alone does not verify
	bad, _ := json.Marshal(c)
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := wash.Contact("tehran"); err == nil {
		t.Fatal("a chain without serial 1 was trusted")
	}
	if _, err := wash.RefreshContact(ctx, "unknown"); !errors.Is(err, client.ErrUnknownContact) {
		t.Fatalf("refreshing an unpinned party: %v", err)
	}
}
