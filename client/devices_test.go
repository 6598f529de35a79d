package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/identity"
	"brieftraeger/internal/testrelay"
)

// joinDevice makes a device of washington through a join request, and
// returns its folder and the admission that root, a device of washington
// that can sign roster changes, made.
func joinDevice(t *testing.T, w *testrelay.World, root *client.Party, name, fingerprint string) (string, []byte) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	jr, err := client.StartJoin(client.JoinOptions{Dir: dir, Party: "washington", Device: name,
		Passphrase: testrelay.Passphrase, WorkFactor: 10, AllowWeakWorkFactor: true, Relay: w.Descriptor(), RootFingerprint: fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Load(dir, testrelay.Passphrase, client.Options{}); !errors.Is(err, client.ErrJoinPending) {
		t.Fatalf("Load of a folder waiting to join: %v", err)
	}
	return dir, admit(t, root, jr)
}

// admit admits the join request jr on root and returns the admission.
func admit(t *testing.T, root *client.Party, jr *identity.JoinRequest) []byte {
	t.Helper()
	ad, err := root.AddDevice(context.Background(), jr.Raw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(ad)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDeviceAddAndRemove(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	// The fingerprint as read out: any case, spaces for colons.
	fp := strings.ToUpper(strings.ReplaceAll(identity.Fingerprint(wash.Roster().Root), ":", " "))
	dir, ad := joinDevice(t, w, wash, "terminal", fp)
	if r := wash.Roster(); r.Serial != 2 || r.Device("terminal") == nil {
		t.Fatalf("root holder's roster after the add: serial %d, devices %v", r.Serial, r.Devices)
	}
	term, err := client.FinishJoin(ctx, dir, testrelay.Passphrase, ad, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	w.Pin(term, teh)
	if term.Roster().Serial != 2 || term.Device() != "terminal" {
		t.Fatalf("new device: roster %d, device %q", term.Roster().Serial, term.Device())
	}
	// The new device opens letters to its party, and the other party
	// learns of it when it first sees a letter of it.
	sent, _, err := teh.Send(ctx, client.Outgoing{To: "washington", Subject: "to both", Precedence: envelope.Routine, Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := term.Receive(ctx, sent.ID); err != nil {
		t.Fatalf("new device opening a letter: %v", err)
	}
	if _, _, err := term.Send(ctx, client.Outgoing{To: "tehran", Subject: "from terminal", Precedence: envelope.Routine, Body: []byte("b")}); err != nil {
		t.Fatalf("new device sending: %v", err)
	}
	// A reload verifies the kept chain.
	again, err := client.Load(dir, testrelay.Passphrase, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	again.Close()

	removed, err := wash.RemoveDevice(ctx, "terminal")
	if err != nil {
		t.Fatal(err)
	}
	if removed.Serial != 3 || removed.Device("terminal") != nil {
		t.Fatalf("roster after the removal: %d %v", removed.Serial, removed.Devices)
	}
	_, _, err = term.Send(ctx, client.Outgoing{To: "tehran", Subject: "after removal", Precedence: envelope.Routine, Body: []byte("b")})
	var re *client.RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("a removed device's send: %v", err)
	}
	if _, err := wash.RemoveDevice(ctx, wash.Device()); err == nil {
		t.Fatal("removed its own device")
	}
	if _, err := wash.RemoveDevice(ctx, "terminal"); err == nil || !strings.Contains(err.Error(), "names no device") {
		t.Fatalf("removing a device twice: %v", err)
	}
}

func TestAddDeviceRefusals(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	// A device without the root key cannot change the roster.
	dir, ad := joinDevice(t, w, wash, "terminal", "")
	term, err := client.FinishJoin(ctx, dir, testrelay.Passphrase, ad, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	if _, err := term.RemoveDevice(ctx, wash.Device()); !errors.Is(err, client.ErrNoRootKey) {
		t.Fatalf("removal by a device without the root key: %v", err)
	}
	// A fingerprint that is not one is refused before anything is made.
	bad := filepath.Join(t.TempDir(), "bad")
	if _, err := client.StartJoin(client.JoinOptions{Dir: bad, Party: "washington", Device: "x", RootFingerprint: "12:34",
		Passphrase: testrelay.Passphrase, WorkFactor: 10, AllowWeakWorkFactor: true, Relay: w.Descriptor()}); err == nil || !strings.Contains(err.Error(), "32 hex digits") {
		t.Fatalf("a short fingerprint: %v", err)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Fatalf("a refused join left a folder: %v", err)
	}
	// A request of another party, or for a name taken, is refused and
	// changes nothing.
	jr := startJoin(t, w, "tehran", "x")
	if _, err := wash.AddDevice(ctx, jr.Raw); err == nil || !strings.Contains(err.Error(), `for party "tehran"`) {
		t.Fatalf("another party's request: %v", err)
	}
	jr = startJoin(t, w, "washington", "terminal")
	if _, err := wash.AddDevice(ctx, jr.Raw); err == nil || !strings.Contains(err.Error(), "already names") {
		t.Fatalf("a name taken: %v", err)
	}
	if wash.Roster().Serial != 2 {
		t.Fatalf("roster changed by refused requests: serial %d", wash.Roster().Serial)
	}
	_ = teh
}

// The new device trusts nothing in the admission as it stands.
func TestFinishJoinChecks(t *testing.T) {
	w, wash, _ := pair(t)
	ctx := context.Background()
	dir, ad := joinDevice(t, w, wash, "terminal", "0000:0000:0000:0000:0000:0000:0000:0000")
	before := listFiles(t, dir)
	if _, err := client.FinishJoin(ctx, dir, testrelay.Passphrase, ad, client.Options{}); err == nil || !strings.Contains(err.Error(), "not 0000") {
		t.Fatalf("a chain under another root than expected: %v", err)
	}
	if after := listFiles(t, dir); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("a refused admission changed the folder:\n%v\n%v", before, after)
	}

	dir, ad = joinDevice(t, w, wash, "terminal-2", "")
	var a client.Admission
	if err := json.Unmarshal(ad, &a); err != nil {
		t.Fatal(err)
	}
	// An epoch secret of another key, as if swapped on the way.
	other, err := identity.NewEpochKey()
	if err != nil {
		t.Fatal(err)
	}
	term := joinKeys(t, dir)
	sealed, err := identity.SealEpoch(other, []identity.Device{term})
	if err != nil {
		t.Fatal(err)
	}
	bad := a
	bad.Epochs = map[string][]byte{"1": sealed}
	b, _ := json.Marshal(bad)
	if _, err := client.FinishJoin(ctx, dir, testrelay.Passphrase, b, client.Options{}); err == nil || !strings.Contains(err.Error(), "not the key roster") {
		t.Fatalf("a swapped epoch key: %v", err)
	}
	// A roster the relay does not hold.
	bad = a
	bad.Roster = wash.Roster().Raw[:len(wash.Roster().Raw)-1]
	b, _ = json.Marshal(bad)
	if _, err := client.FinishJoin(ctx, dir, testrelay.Passphrase, b, client.Options{}); err == nil {
		t.Fatal("a damaged roster was accepted")
	}
	if _, err := client.FinishJoin(ctx, dir, "wrong passphrase", ad, client.Options{}); !errors.Is(err, identity.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := client.FinishJoin(ctx, dir, testrelay.Passphrase, []byte("{"), client.Options{}); err == nil {
		t.Fatal("malformed admission accepted")
	}
	p, err := client.FinishJoin(ctx, dir, testrelay.Passphrase, ad, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
}

// joinKeys returns the roster entry of the device waiting in dir, from its
// join request.
func joinKeys(t *testing.T, dir string) identity.Device {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "join-request"))
	if err != nil {
		t.Fatal(err)
	}
	jr, err := identity.ParseJoinRequest(raw)
	if err != nil {
		t.Fatal(err)
	}
	return jr.Device
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, _ := d.Info()
			out = append(out, path+":"+info.ModTime().String())
		}
		return nil
	})
	return out
}

// A contact's roster change is recorded once, shown by Status, and
// returned once for the watch's alarm; the first sight of a party is no
// change.
func TestRosterChangesTold(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	if ch, err := teh.NewRosterChanges(); err != nil || len(ch) != 0 {
		t.Fatalf("first sight: %v %v", ch, err)
	}
	dir, ad := joinDevice(t, w, wash, "terminal", "")
	term, err := client.FinishJoin(ctx, dir, testrelay.Passphrase, ad, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	term.Close()
	if _, err := wash.RemoveDevice(ctx, "terminal"); err != nil {
		t.Fatal(err)
	}
	if err := teh.RefreshRosters(ctx); err != nil {
		t.Fatal(err)
	}
	st := status(t, teh)
	var shown []string
	for _, c := range st.RosterChanges {
		shown = append(shown, c.String())
	}
	want := "washington added device terminal (roster #2),washington removed device terminal (roster #3)"
	if strings.Join(shown, ",") != want {
		t.Fatalf("status shows %q, want %q", shown, want)
	}
	ch, err := teh.NewRosterChanges()
	if err != nil || len(ch) != 2 || ch[1].What != "removed device terminal" {
		t.Fatalf("new changes: %v %v", ch, err)
	}
	if ch, err := teh.NewRosterChanges(); err != nil || len(ch) != 0 {
		t.Fatalf("told twice: %v %v", ch, err)
	}
	// The root holder made the changes itself: no alarm here.
	if ch, err := wash.NewRosterChanges(); err != nil || len(ch) != 0 {
		t.Fatalf("own changes: %v %v", ch, err)
	}
}

// A removed device's name is never given to a new one: the other parties
// number letters by device name.
func TestRemovedDeviceNameNotReused(t *testing.T) {
	w, wash, _ := pair(t)
	ctx := context.Background()
	dir, ad := joinDevice(t, w, wash, "terminal", "")
	term, err := client.FinishJoin(ctx, dir, testrelay.Passphrase, ad, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	term.Close()
	if _, err := wash.RemoveDevice(ctx, "terminal"); err != nil {
		t.Fatal(err)
	}
	jr := startJoin(t, w, "washington", "terminal")
	if _, err := wash.AddDevice(ctx, jr.Raw); err == nil || !strings.Contains(err.Error(), "since removed") {
		t.Fatalf("a removed device's name: %v", err)
	}
	if wash.Roster().Serial != 3 {
		t.Fatalf("roster changed: serial %d", wash.Roster().Serial)
	}
}

// startJoin starts a device of party in a new folder.
func startJoin(t *testing.T, w *testrelay.World, party, device string) *identity.JoinRequest {
	t.Helper()
	jr, err := client.StartJoin(client.JoinOptions{Dir: filepath.Join(t.TempDir(), device), Party: party, Device: device,
		Passphrase: testrelay.Passphrase, WorkFactor: 10, AllowWeakWorkFactor: true, Relay: w.Descriptor()})
	if err != nil {
		t.Fatal(err)
	}
	return jr
}

// A letter names its sender's roster version; a receiver holding an older
// one follows the chain when it opens the letter.
func TestLetterNamesNewerRoster(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	w.AddDevice(wash, "terminal") // roster 2, which tehran has not seen
	if ros, err := teh.Contact("washington"); err != nil || ros.Serial != 1 {
		t.Fatalf("before: %v %v", ros, err)
	}
	sent, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "s", Precedence: envelope.Routine, Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := teh.Receive(ctx, sent.ID); err != nil {
		t.Fatal(err)
	}
	if ros, err := teh.Contact("washington"); err != nil || ros.Serial != 2 || ros.Device("terminal") == nil {
		t.Fatalf("after opening a letter that names roster 2: %v %v", ros, err)
	}
}

// A device that follows several roster versions at once keeps each, and
// holds the newest after a reload.
func TestRosterFollowedWithoutGap(t *testing.T) {
	w, wash, _ := pair(t)
	ctx := context.Background()
	term := w.AddDevice(wash, "terminal") // roster 2
	w.AddDevice(wash, "desk")             // roster 3
	w.AddDevice(wash, "laptop-2")         // roster 4
	if r, err := term.RefreshRoster(ctx); err != nil || r.Serial != 4 {
		t.Fatalf("refresh: %v %v", r, err)
	}
	again, err := client.Load(term.Dir(), testrelay.Passphrase, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Roster().Serial != 4 {
		t.Fatalf("after a reload the device holds roster %d, not 4", again.Roster().Serial)
	}
}

// A root holder that has not followed an epoch rotation still admits a
// device with every epoch key the roster names: it follows the roster
// before sealing them.
func TestAdmissionHoldsTheCurrentEpoch(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	term := w.AddDevice(wash, "terminal")
	sealed, err := identity.SealRootKey("washington", w.Keys(wash).Root, "a long root passphrase", 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wash.RotateEpoch(ctx, client.EpochOptions{}); err != nil { // epoch 2; terminal has not followed
		t.Fatal(err)
	}
	if err := term.UseRootKeyFile(ctx, sealed, "a long root passphrase"); err != nil {
		t.Fatal(err)
	}
	dir, ad := joinDevice(t, w, term, "desk", "")
	desk, err := client.FinishJoin(ctx, dir, testrelay.Passphrase, ad, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer desk.Close()
	w.Pin(desk, teh)
	if _, err := teh.RefreshContact(ctx, "washington"); err != nil {
		t.Fatal(err)
	}
	sent, _, err := teh.Send(ctx, client.Outgoing{To: "washington", Subject: "s", Precedence: envelope.Routine, Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := desk.Receive(ctx, sent.ID); err != nil {
		t.Fatalf("the new device cannot open a letter to its party: %v", err)
	}
}
