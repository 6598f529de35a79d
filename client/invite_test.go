package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/internal/testrelay"
	"brieftraeger/internal/tlspin"
	"brieftraeger/store"
)

// invited starts a relay with washington and tehran admitted, no channel
// between them, and an invitation from washington to tehran.
func invited(t *testing.T) (*testrelay.World, *client.Party, *client.Party, *client.CreatedInvitation) {
	t.Helper()
	w := testrelay.Start(t, testrelay.Options{})
	wash, teh := w.Party("washington"), w.Party("tehran")
	inv, err := wash.CreateInvitation(context.Background(), "tehran", 0)
	if err != nil {
		t.Fatal(err)
	}
	if inv.State != store.InviteOpen || len(strings.Fields(inv.Words)) != identity.InviteWords {
		t.Fatalf("created %+v", inv)
	}
	return w, wash, teh, inv
}

func channelOpen(t *testing.T, w *testrelay.World) bool {
	t.Helper()
	open, err := w.Store.ChannelOpen(context.Background(), "washington", "tehran")
	if err != nil {
		t.Fatal(err)
	}
	return open
}

func pinned(p *client.Party, party string) bool {
	_, err := os.Stat(filepath.Join(p.Dir(), "contacts", party+".json"))
	return err == nil
}

func TestInvitationOpensChannel(t *testing.T) {
	w, wash, teh, inv := invited(t)
	ctx := context.Background()
	st, err := wash.InvitationStatus(ctx)
	if err != nil || len(st) != 1 || st[0].State != "open" || st[0].For != "tehran" {
		t.Fatalf("before the answer: %+v, %v", st, err)
	}
	acc, err := teh.AcceptInvitation(ctx, inv.Code)
	if err != nil {
		t.Fatal(err)
	}
	if acc.From != "washington" || acc.RootFingerprint != identity.Fingerprint(wash.Roster().Root) {
		t.Fatalf("accepted %+v", acc)
	}
	// One side's consent does not open the channel.
	if channelOpen(t, w) {
		t.Fatal("channel open on tehran's consent alone")
	}
	if _, _, err := teh.Send(ctx, client.Outgoing{To: "washington", Subject: "s", Body: []byte("b")}); err == nil {
		t.Fatal("a letter went through before washington consented")
	}
	st, err = wash.InvitationStatus(ctx)
	if err != nil || len(st) != 1 || st[0].State != "done" || st[0].RootFingerprint != identity.Fingerprint(teh.Roster().Root) {
		t.Fatalf("pick-up: %+v, %v", st, err)
	}
	if !channelOpen(t, w) {
		t.Fatal("channel not open after both consented")
	}
	// Done invitations are forgotten.
	if st, err := wash.InvitationStatus(ctx); err != nil || len(st) != 0 {
		t.Fatalf("after: %+v, %v", st, err)
	}
	// Letters flow, and both see the same safety number.
	sent, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "first", Body: []byte("hello")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := teh.Receive(ctx, sent.ID); err != nil {
		t.Fatal(err)
	}
	a, _ := wash.ContactInfo("tehran")
	b, _ := teh.ContactInfo("washington")
	if a.SafetyNumber == "" || a.SafetyNumber != b.SafetyNumber {
		t.Fatalf("safety numbers %q and %q", a.SafetyNumber, b.SafetyNumber)
	}
	// The code is good for one answer.
	if _, err := teh.AcceptInvitation(ctx, inv.Code); err == nil || !strings.Contains(err.Error(), "used already") {
		t.Fatalf("second accept: %v", err)
	}
}

func TestInvitationWrongCode(t *testing.T) {
	w, _, teh, inv := invited(t)
	ctx := context.Background()
	for i := range api.MaxInviteMisses {
		wrong, _ := identity.NewInviteCode()
		_, err := teh.AcceptInvitation(ctx, wrong)
		if err == nil || !strings.Contains(err.Error(), "no invitation for \"tehran\" has this code") {
			t.Fatalf("wrong code %d: %v", i, err)
		}
		if pinned(teh, "washington") {
			t.Fatal("a wrong code pinned something")
		}
	}
	// Five wrong codes burnt it: the right one no longer works.
	_, err := teh.AcceptInvitation(ctx, inv.Code)
	if err == nil || !strings.Contains(err.Error(), "burnt after 5 wrong codes") {
		t.Fatalf("after five wrong codes: %v", err)
	}
	if pinned(teh, "washington") || channelOpen(t, w) {
		t.Fatal("a burnt invitation pinned or opened something")
	}
}

func TestInvitationExpires(t *testing.T) {
	w, _, teh, inv := invited(t)
	w.SetNow(time.Now().Add(client.DefaultInviteValidity + time.Minute))
	_, err := teh.AcceptInvitation(context.Background(), inv.Code)
	if err == nil || !strings.Contains(err.Error(), "expired on") {
		t.Fatalf("expired: %v", err)
	}
	if pinned(teh, "washington") {
		t.Fatal("an expired invitation pinned something")
	}
}

// tamper rewrites the stored invitation, as a relay with its store in
// hand can.
func tamper(t *testing.T, w *testrelay.World, inv *client.CreatedInvitation, change func(*store.Invitation)) {
	t.Helper()
	rec, err := w.Store.GetInvitation(context.Background(), inv.ID)
	if err != nil {
		t.Fatal(err)
	}
	change(rec)
	if err := w.Store.UpdateInvitation(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
}

// TestRelaySubstitutesInviterKey: the relay puts its own root key into
// the invitation. Tehran's device refuses it and pins nothing.
func TestRelaySubstitutesInviterKey(t *testing.T) {
	w, wash, teh, inv := invited(t)
	mallory := w.Party("mallory")
	tamper(t, w, inv, func(rec *store.Invitation) {
		rec.Raw = bytes.Replace(rec.Raw, wash.Roster().Root, mallory.Roster().Root, 1)
	})
	_, err := teh.AcceptInvitation(context.Background(), inv.Code)
	var ae *client.InviteAuthError
	if !errors.As(err, &ae) || ae.What != "invitation" {
		t.Fatalf("substituted key: %v", err)
	}
	if pinned(teh, "washington") || channelOpen(t, w) {
		t.Fatal("a substituted invitation pinned or opened something")
	}
}

// TestRelaySubstitutesAnswer: after tehran answered, the relay puts its
// own root key into the answer. Washington's device refuses it, pins
// nothing and does not consent, so the channel stays shut.
func TestRelaySubstitutesAnswer(t *testing.T) {
	w, wash, teh, inv := invited(t)
	ctx := context.Background()
	mallory := w.Party("mallory")
	if _, err := teh.AcceptInvitation(ctx, inv.Code); err != nil {
		t.Fatal(err)
	}
	tamper(t, w, inv, func(rec *store.Invitation) {
		rec.Answer = bytes.Replace(rec.Answer, teh.Roster().Root, mallory.Roster().Root, 1)
	})
	st, err := wash.InvitationStatus(ctx)
	if err != nil || len(st) != 1 || st[0].State != "refused" || !strings.Contains(st[0].Error, "does not match the code") {
		t.Fatalf("substituted answer: %+v, %v", st, err)
	}
	if pinned(wash, "tehran") || channelOpen(t, w) {
		t.Fatal("a substituted answer pinned or opened something")
	}
	// It stays refused on every look.
	if st, _ := wash.InvitationStatus(ctx); len(st) != 1 || st[0].State != "refused" {
		t.Fatalf("second look: %+v", st)
	}
}

// deviceDo sends a request to the relay as p's device, outside the
// client, as a modified client (or a relay's accomplice) could.
func deviceDo(t *testing.T, w *testrelay.World, p *client.Party, method, path string, body []byte) (int, api.Error) {
	t.Helper()
	conf, err := tlspin.ClientTLSConfig(w.Keys(p).Sign, w.Dir.Descriptor.TLSSHA256)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, w.URL+path, bytes.NewReader(body))
	req.Header.Set(api.HeaderParty, p.Name())
	req.Header.Set(api.HeaderDevice, p.Device())
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: conf}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.Error
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e
}

// TestChannelNeedsBothConsents: through the API, the channel cannot be
// opened with one side's consent: not by the invited party consenting
// twice, not by a consent signed with a key off the inviting party's
// roster, not before the answer.
func TestChannelNeedsBothConsents(t *testing.T) {
	w, wash, teh, inv := invited(t)
	ctx := context.Background()
	id := hex.EncodeToString(inv.Code.ID())
	lookup := identity.InviteLookup(inv.Code.ID())
	good, err := identity.SignChannelConsent(w.Keys(wash).Sign, "washington", wash.Device(), "tehran", lookup)
	if err != nil {
		t.Fatal(err)
	}
	// Before the answer, washington's consent opens nothing.
	if code, e := deviceDo(t, w, wash, "POST", api.PathInvitations+"/"+id+"/consent", good.Raw); code != http.StatusConflict {
		t.Fatalf("consent before answer: %d %+v", code, e)
	}
	if _, err := teh.AcceptInvitation(ctx, inv.Code); err != nil {
		t.Fatal(err)
	}
	// Tehran cannot consent for washington's side.
	tehSays, _ := identity.SignChannelConsent(w.Keys(teh).Sign, "tehran", teh.Device(), "washington", lookup)
	if code, e := deviceDo(t, w, teh, "POST", api.PathInvitations+"/"+id+"/consent", tehSays.Raw); code != http.StatusForbidden {
		t.Fatalf("tehran's consent on washington's side: %d %+v", code, e)
	}
	// A consent in washington's name signed by a key not on its roster.
	_, other, _ := ed25519.GenerateKey(nil)
	forged, _ := identity.SignChannelConsent(other, "washington", wash.Device(), "tehran", lookup)
	if code, e := deviceDo(t, w, wash, "POST", api.PathInvitations+"/"+id+"/consent", forged.Raw); code != http.StatusForbidden || e.Code != api.CodeBadSignature {
		t.Fatalf("forged consent: %d %+v", code, e)
	}
	// A consent for another invitation.
	elsewhere, _ := identity.SignChannelConsent(w.Keys(wash).Sign, "washington", wash.Device(), "tehran", [32]byte{1})
	if code, e := deviceDo(t, w, wash, "POST", api.PathInvitations+"/"+id+"/consent", elsewhere.Raw); code != http.StatusBadRequest {
		t.Fatalf("consent for another invitation: %d %+v", code, e)
	}
	if channelOpen(t, w) {
		t.Fatal("channel open with one consent")
	}
	// The stored consent of tehran is replaced by a forged one: even
	// washington's good consent then opens nothing.
	tamper(t, w, inv, func(rec *store.Invitation) {
		f, _ := identity.SignChannelConsent(other, "tehran", teh.Device(), "washington", lookup)
		rec.ConsentFor = f.Raw
	})
	if code, e := deviceDo(t, w, wash, "POST", api.PathInvitations+"/"+id+"/consent", good.Raw); code != http.StatusConflict || e.Code != api.CodeBadSignature {
		t.Fatalf("good consent over a forged one: %d %+v", code, e)
	}
	if channelOpen(t, w) {
		t.Fatal("channel open with a forged consent")
	}
}

func TestInviteQR(t *testing.T) {
	code, _ := identity.NewInviteCode()
	png, err := client.InviteQR(code)
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.DecodeQRForTest(png)
	if err != nil || got != code.String() {
		t.Fatalf("QR reads %q, %v; want %q", got, err, code.String())
	}
}

// TestRelayRefusesBadInvitations: an invitation in another party's name,
// one that expires too late or has expired, and one to the inviting party
// itself are refused, and nothing is stored.
func TestRelayRefusesBadInvitations(t *testing.T) {
	w := testrelay.Start(t, testrelay.Options{})
	wash, _ := w.Party("washington"), w.Party("tehran")
	code, _ := identity.NewInviteCode()
	now := time.Now()
	for _, tc := range []struct {
		name       string
		from, to   string
		expires    time.Time
		wantStatus int
	}{
		{"another party's name", "tehran", "washington", now.Add(time.Hour), http.StatusForbidden},
		{"too late", "washington", "tehran", now.Add(31 * 24 * time.Hour), http.StatusBadRequest},
		{"expired", "washington", "tehran", now.Add(-time.Minute), http.StatusBadRequest},
		{"unknown party", "washington", "paris", now.Add(time.Hour), http.StatusNotFound},
	} {
		inv, err := identity.NewInvitation(code, tc.from, tc.to, wash.Roster().Root, tc.expires)
		if err != nil {
			t.Fatal(err)
		}
		if status, e := deviceDo(t, w, wash, "POST", api.PathInvitations, inv.Raw); status != tc.wantStatus {
			t.Errorf("%s: %d %+v", tc.name, status, e)
		}
	}
	if status, e := deviceDo(t, w, wash, "POST", api.PathInvitations, []byte("not an invitation")); status != http.StatusBadRequest {
		t.Errorf("garbage: %d %+v", status, e)
	}
	if list, err := w.Store.Invitations(context.Background()); err != nil || len(list) != 0 {
		t.Fatalf("stored: %+v, %v", list, err)
	}
	if _, err := wash.CreateInvitation(context.Background(), "washington", 0); err == nil {
		t.Fatal("invited itself")
	}
}
