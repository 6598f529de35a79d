package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"brieftraeger/client"
	"brieftraeger/identity"
	"brieftraeger/internal/testrelay"
)

// A device without the root key changes the roster with the root key
// file; rotating the root makes the old key useless everywhere, and the
// other party is told.
func TestRootKeyFileAndRotation(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	term := w.AddDevice(wash, "terminal")
	if _, err := term.RemoveDevice(ctx, wash.Device()); !errors.Is(err, client.ErrNoRootKey) {
		t.Fatalf("without the root key: %v", err)
	}
	oldRoot := w.Keys(wash).Root
	sealed, err := identity.SealRootKey("washington", oldRoot, "a long root passphrase", 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.UseRootKeyFile(ctx, sealed, "wrong"); !errors.Is(err, identity.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	other, err := identity.SealRootKey("tehran", w.Keys(teh).Root, "a long root passphrase", 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.UseRootKeyFile(ctx, other, "a long root passphrase"); err == nil || !strings.Contains(err.Error(), `for party "tehran"`) {
		t.Fatalf("another party's root key file: %v", err)
	}
	stranger, err := identity.SealRootKey("washington", w.Keys(teh).Root, "a long root passphrase", 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.UseRootKeyFile(ctx, stranger, "a long root passphrase"); err == nil || !strings.Contains(err.Error(), "not this party's root key") {
		t.Fatalf("a key the roster never named: %v", err)
	}
	if err := term.UseRootKeyFile(ctx, sealed, "a long root passphrase"); err != nil {
		t.Fatal(err)
	}
	var kept ed25519.PrivateKey
	ros, err := term.RotateRootToFile(ctx, func(k ed25519.PrivateKey) error { kept = k; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if kept == nil || !ros.Root.Equal(kept.Public()) || ros.Serial != 3 {
		t.Fatalf("rotated roster: serial %d, root %s", ros.Serial, identity.Fingerprint(ros.Root))
	}
	// The old key is no root any more: its file is refused, and the
	// device that kept it in its keystore signs nothing the relay takes.
	if err := term.UseRootKeyFile(ctx, sealed, "a long root passphrase"); err == nil || !strings.Contains(err.Error(), "a retired key") {
		t.Fatalf("the old root key file: %v", err)
	}
	if _, err := wash.RemoveDevice(ctx, "terminal"); !errors.Is(err, client.ErrNoRootKey) {
		t.Fatalf("a roster change signed with the rotated key: %v", err)
	}
	if _, err := wash.RotateRootToFile(ctx, func(ed25519.PrivateKey) error { return nil }); !errors.Is(err, client.ErrNoRootKey) {
		t.Fatalf("rotation by the device whose key was rotated away: %v", err)
	}
	// The new key changes the roster.
	newFile, err := identity.SealRootKey("washington", kept, "a long root passphrase", 10)
	if err != nil {
		t.Fatal(err)
	}
	again, err := client.Load(wash.Dir(), testrelay.Passphrase, client.Options{})
	if err != nil {
		t.Fatalf("the laptop after the rotation: %v", err)
	}
	defer again.Close()
	if _, err := again.RefreshRoster(ctx); err != nil {
		t.Fatal(err)
	}
	if err := again.UseRootKeyFile(ctx, newFile, "a long root passphrase"); err != nil {
		t.Fatal(err)
	}
	if _, err := again.RemoveDevice(ctx, "terminal"); err != nil {
		t.Fatalf("a change with the new root key: %v", err)
	}
	if err := teh.RefreshRosters(ctx); err != nil {
		t.Fatal(err)
	}
	var told []string
	for _, c := range status(t, teh).RosterChanges {
		told = append(told, c.String())
	}
	if !strings.Contains(strings.Join(told, ","), "washington rotated its root key (roster #3)") {
		t.Fatalf("tehran was told %q", told)
	}
}

// Rotating a root key kept on the device moves it off: the new key is in
// the file only, and the keystore forgets the old one when next loaded.
func TestRotateRootOffTheDevice(t *testing.T) {
	w, wash, _ := pair(t)
	ctx := context.Background()
	if !wash.RootOnDevice() {
		t.Fatal("the first device does not hold the root key")
	}
	var kept ed25519.PrivateKey
	if _, err := wash.RotateRootToFile(ctx, func(k ed25519.PrivateKey) error { kept = k; return nil }); err != nil {
		t.Fatal(err)
	}
	again, err := client.Load(wash.Dir(), testrelay.Passphrase, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.RootOnDevice() {
		t.Fatal("the keystore still holds a root key")
	}
	if ks := w.Keys(wash); ks.Root != nil {
		t.Fatalf("keys.age still holds the retired root key %s", identity.Fingerprint(ks.Root.Public().(ed25519.PublicKey)))
	}
	sealed, err := identity.SealRootKey("washington", kept, "a long root passphrase", 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.UseRootKeyFile(ctx, sealed, "a long root passphrase"); err != nil {
		t.Fatal(err)
	}
}

// The current root key file is taken by a device that has not followed
// the rotation yet: it follows the roster first.
func TestRootKeyFileOnAStaleDevice(t *testing.T) {
	w, wash, _ := pair(t)
	ctx := context.Background()
	term := w.AddDevice(wash, "terminal")
	var kept ed25519.PrivateKey
	if _, err := wash.RotateRootToFile(ctx, func(k ed25519.PrivateKey) error { kept = k; return nil }); err != nil {
		t.Fatal(err)
	}
	sealed, err := identity.SealRootKey("washington", kept, "a long root passphrase", 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.UseRootKeyFile(ctx, sealed, "a long root passphrase"); err != nil {
		t.Fatalf("the current root key file: %v", err)
	}
}

// The device that rotates the root warns of nothing: the new key is its.
func TestOwnRotationNoWarning(t *testing.T) {
	_, wash, _ := pair(t)
	var buf bytes.Buffer
	p, err := client.Load(wash.Dir(), testrelay.Passphrase, client.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.RotateRootToFile(context.Background(), func(ed25519.PrivateKey) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte("level=WARN")) {
		t.Errorf("a warning for this device's own rotation: %s", buf.String())
	}
}

// A failure after keys.age is written leaves the root key file: it is
// the party's only root key.
func TestInitKeepsRootFileOnceThePartyExists(t *testing.T) {
	w := testrelay.Start(t, testrelay.Options{})
	dir := filepath.Join(t.TempDir(), "p")
	if err := os.MkdirAll(filepath.Join(dir, "rosterchanges.json", "x"), 0o700); err != nil { // makes Init fail after keys.age
		t.Fatal(err)
	}
	rootOut := filepath.Join(t.TempDir(), "root.age")
	_, err := client.Init(client.InitOptions{Dir: dir, Party: "washington", Device: "d", Passphrase: testrelay.Passphrase,
		WorkFactor: 10, AllowWeakWorkFactor: true, Relay: w.Descriptor(), RootOut: rootOut, RootPassphrase: "a long root passphrase"}, client.Options{})
	if err == nil {
		t.Fatal("Init succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "keys.age")); err != nil {
		t.Fatalf("the failure came before keys.age: %v", err)
	}
	if _, err := os.Stat(rootOut); err != nil {
		t.Fatalf("the root key file is gone with the party made: %v", err)
	}
}
