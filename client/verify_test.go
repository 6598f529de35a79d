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
	"brieftraeger/identity"
	"brieftraeger/internal/testrelay"
)

func pinOf(t *testing.T, s string) identity.Pin {
	t.Helper()
	pin, err := identity.ParsePin(s)
	if err != nil {
		t.Fatal(err)
	}
	return pin
}

// noContact fails t unless p has no contact file for party.
func noContact(t *testing.T, p *client.Party, party string) {
	t.Helper()
	if _, err := p.ContactInfo(party); !errors.Is(err, client.ErrUnknownContact) {
		t.Fatalf("contact %q after a refused add: %v", party, err)
	}
	if _, err := os.Stat(filepath.Join(p.Dir(), "contacts", party+".json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("contact file of %q: %v", party, err)
	}
}

func TestAddContactByFingerprint(t *testing.T) {
	w := testrelay.Start(t, testrelay.Options{})
	wash, teh := w.Party("washington"), w.Party("tehran")
	ctx := context.Background()
	fp := identity.Fingerprint(wash.Roster().Root)

	// A misread digit: the relay's key has another fingerprint.
	wrong := fp[:len(fp)-1] + "0"
	if strings.HasSuffix(fp, "0") {
		wrong = fp[:len(fp)-1] + "1"
	}
	_, err := teh.AddContactPin(ctx, "washington", pinOf(t, wrong))
	var fme *client.FingerprintMismatchError
	if !errors.As(err, &fme) || fme.Relay != fp || fme.Given != wrong {
		t.Fatalf("misread fingerprint: %v", err)
	}
	want := "the relay shows washington's root key with fingerprint " + fp + ", you were given " + wrong + ": do not add it; call washington back"
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	noContact(t, teh, "washington")

	// A party the relay does not know.
	if _, err := teh.AddContactPin(ctx, "paris", pinOf(t, fp)); err == nil || !strings.Contains(err.Error(), `the relay knows no party "paris"`) {
		t.Fatalf("unknown party: %v", err)
	}
	noContact(t, teh, "paris")

	// The fingerprint as read over the phone: upper case, spaces.
	spoken := strings.ToUpper(strings.ReplaceAll(fp, ":", " "))
	ros, err := teh.AddContactPin(ctx, "washington", pinOf(t, spoken))
	if err != nil {
		t.Fatal(err)
	}
	if !ros.Root.Equal(wash.Roster().Root) {
		t.Fatal("pinned another root")
	}
	ci, err := teh.ContactInfo("washington")
	if err != nil || ci.RootFingerprint != fp || ci.RosterSerial != 1 || ci.VerifiedAt != nil {
		t.Fatalf("contact info %+v, %v", ci, err)
	}
	// Adding by key or by fingerprint again is a refresh.
	if _, err := teh.AddContactPin(ctx, "washington", identity.Pin{Key: wash.Roster().Root}); err != nil {
		t.Fatal(err)
	}
	if _, err := teh.AddContactPin(ctx, "washington", pinOf(t, fp)); err != nil {
		t.Fatal(err)
	}
}

// TestSafetyNumberVerified checks that both sides see the same safety
// number, that a confirmation is kept across refreshes, and that a
// confirmation for another number does not count.
func TestSafetyNumberVerified(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	a, err := wash.ContactInfo("tehran")
	if err != nil {
		t.Fatal(err)
	}
	b, err := teh.ContactInfo("washington")
	if err != nil {
		t.Fatal(err)
	}
	if a.SafetyNumber != b.SafetyNumber || a.SafetyNumber == "" {
		t.Fatalf("washington sees %q, tehran %q", a.SafetyNumber, b.SafetyNumber)
	}
	if a.VerifiedAt != nil || a.StaleVerification {
		t.Fatalf("verified before confirming: %+v", a)
	}
	v, err := wash.ConfirmContact("tehran")
	if err != nil {
		t.Fatal(err)
	}
	if v.VerifiedAt == nil || v.SafetyNumber != a.SafetyNumber {
		t.Fatalf("after confirming: %+v", v)
	}

	// A device washington adds changes no number: it comes from the first
	// roster's root, on the new device too.
	dir, ad := joinDevice(t, w, wash, "terminal", identity.Fingerprint(wash.Roster().Root))
	term, err := client.FinishJoin(ctx, dir, testrelay.Passphrase, ad, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	w.Pin(term, teh)
	if _, err := teh.RefreshContact(ctx, "washington"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*client.Party{wash, term} {
		ci, err := p.ContactInfo("tehran")
		if err != nil || ci.SafetyNumber != a.SafetyNumber {
			t.Fatalf("%s/%s after the device add: %+v, %v", p.Name(), p.Device(), ci, err)
		}
	}
	if ci, err := teh.ContactInfo("washington"); err != nil || ci.SafetyNumber != a.SafetyNumber || ci.RosterSerial != 2 {
		t.Fatalf("tehran after washington's device add: %+v, %v", ci, err)
	}

	// A new roster version, followed, keeps the confirmation: the pinned
	// root is the same.
	nextRoster(t, w, teh, teh.Roster(), "dev-tehran-2")
	if ros, err := wash.RefreshContact(ctx, "tehran"); err != nil || ros.Serial != 2 {
		t.Fatalf("refresh: %v", err)
	}
	if _, err := wash.AddContact(ctx, "tehran", teh.Roster().Root); err != nil {
		t.Fatal(err)
	}
	after, err := wash.ContactInfo("tehran")
	if err != nil || after.VerifiedAt == nil || !after.VerifiedAt.Equal(*v.VerifiedAt) || after.RosterSerial != 2 {
		t.Fatalf("after refresh: %+v, %v", after, err)
	}
	if list, err := wash.ContactInfos(); err != nil || len(list) != 1 || list[0].VerifiedAt == nil {
		t.Fatalf("contact list: %+v, %v", list, err)
	}
	// A confirmation on record for another number (a contact removed and
	// pinned again to another key, say) no longer applies.
	path := filepath.Join(wash.Dir(), "contacts", "tehran.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	f["verified"].(map[string]any)["safety_number"] = "0000" + a.SafetyNumber[4:]
	if raw, err = json.Marshal(f); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	stale, err := wash.ContactInfo("tehran")
	if err != nil || stale.VerifiedAt != nil || !stale.StaleVerification {
		t.Fatalf("stale confirmation: %+v, %v", stale, err)
	}
}

// TestRelaySubstitutesKey plays the relay as the attacker: it admits a
// "washington" of its own making, and shows tehran that party's roster
// chain. The real washington reaches tehran through an honest relay.
// Pinning by the fingerprint washington read out is refused; a key pinned
// by base64 passes, but the safety numbers the two sides read aloud differ,
// in washington's half.
func TestRelaySubstitutesKey(t *testing.T) {
	evil, honest := testrelay.Start(t, testrelay.Options{}), testrelay.Start(t, testrelay.Options{})
	ctx := context.Background()
	teh := evil.Party("tehran")
	fake := evil.Party("washington") // the relay holds this one's keys
	wash := honest.Party("washington")
	if err := honest.Admin.Admit(ctx, "tehran", teh.Roster().Raw); err != nil {
		t.Fatal(err)
	}
	if _, err := wash.AddContact(ctx, "tehran", teh.Roster().Root); err != nil {
		t.Fatal(err)
	}

	// Washington reads its fingerprint over the phone; the relay's
	// washington has another.
	told := identity.Fingerprint(wash.Roster().Root)
	_, err := teh.AddContactPin(ctx, "washington", pinOf(t, told))
	var fme *client.FingerprintMismatchError
	if !errors.As(err, &fme) || fme.Given != told || fme.Relay != identity.Fingerprint(fake.Roster().Root) {
		t.Fatalf("substituted key pinned by fingerprint: %v", err)
	}
	noContact(t, teh, "washington")

	// Tehran was handed the relay's key in base64 (by e-mail, say) and
	// pinned it. The safety numbers differ.
	if _, err := teh.AddContactPin(ctx, "washington", pinOf(t, identity.EncodePublicKey(fake.Roster().Root))); err != nil {
		t.Fatal(err)
	}
	atTeh, err := teh.ContactInfo("washington")
	if err != nil {
		t.Fatal(err)
	}
	atWash, err := wash.ContactInfo("tehran")
	if err != nil {
		t.Fatal(err)
	}
	if atTeh.SafetyNumber == atWash.SafetyNumber {
		t.Fatalf("both sides read %q though tehran pinned the relay's key", atTeh.SafetyNumber)
	}
	// "tehran" sorts first: its 8 groups match, washington's do not.
	th, wh := strings.Fields(atTeh.SafetyNumber), strings.Fields(atWash.SafetyNumber)
	if strings.Join(th[:8], " ") != strings.Join(wh[:8], " ") {
		t.Errorf("tehran's half differs: %q, %q", atTeh.SafetyNumber, atWash.SafetyNumber)
	}
	for i := 8; i < 16; i++ {
		if th[i] == wh[i] {
			t.Logf("group %d agrees by chance (1 in 10000)", i+1)
		}
	}
	if strings.Join(th[8:], " ") == strings.Join(wh[8:], " ") {
		t.Errorf("washington's half agrees: %q", atTeh.SafetyNumber)
	}
}
