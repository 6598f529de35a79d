package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"brieftraeger/identity"
	"brieftraeger/internal/api"
)

// DefaultInviteValidity is how long an invitation may be answered when
// no validity is given.
const DefaultInviteValidity = 7 * 24 * time.Hour

// sentInvitation is an invitation this device made and has not seen to
// its end, as invitations/<lookup>.json keeps it: the code too, which the
// device needs to check the answer.
type sentInvitation struct {
	Code    string    `json:"code"`
	For     string    `json:"for"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// CreatedInvitation is an invitation made and stored at the relay: the
// code to give to the invited party out of band, by voice or as a QR
// image, and the relay's id of it (its lookup, in hex), which the
// operator sees.
type CreatedInvitation struct {
	Code    identity.InviteCode `json:"-"`
	Words   string              `json:"code"`
	For     string              `json:"for"`
	ID      string              `json:"id"`
	State   string              `json:"state"`
	Expires time.Time           `json:"expires"`
}

func (p *Party) invitationPath(lookup [32]byte) string {
	return filepath.Join(p.dir, "invitations", hex.EncodeToString(lookup[:])+".json")
}

// CreateInvitation invites party to a channel with this party: it makes a
// one-time code, stores at the relay the invitation (this party's pinned
// root key, authenticated with a key derived from the code), and keeps the
// code in the folder until the answer is picked up
// ([Party.InvitationStatus]). valid is how long it may be answered
// (0: DefaultInviteValidity).
func (p *Party) CreateInvitation(ctx context.Context, party string, valid time.Duration) (*CreatedInvitation, error) {
	if err := identity.CheckName("party", party); err != nil {
		return nil, err
	}
	if party == p.Name() {
		return nil, errors.New("a party cannot invite itself")
	}
	if valid == 0 {
		valid = DefaultInviteValidity
	}
	if valid < time.Second {
		return nil, errors.New("an invitation must be valid for at least a second")
	}
	root, err := p.PinnedRoot()
	if err != nil {
		return nil, err
	}
	code, err := identity.NewInviteCode()
	if err != nil {
		return nil, err
	}
	now := p.now()
	inv, err := identity.NewInvitation(code, p.Name(), party, root, now.Add(valid))
	if err != nil {
		return nil, err
	}
	// The code is kept before the relay stores the invitation, so that an
	// answer can always be checked.
	path := p.invitationPath(inv.Lookup)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	rec := sentInvitation{Code: code.String(), For: party, Created: now.UTC(), Expires: inv.Expires}
	if err := writeJSONFile(path, rec); err != nil {
		return nil, fmt.Errorf("failed to keep the invitation: %w", err)
	}
	var shown api.Invitation
	if err := p.postJSON(ctx, api.PathInvitations, inv.Raw, &shown); err != nil {
		os.Remove(path)
		var re *RelayError
		if errors.As(err, &re) && re.Code == api.CodeUnknownParty {
			return nil, fmt.Errorf("the relay knows no party %q: check the name with them, and that the relay's operator admitted them: %w", party, err)
		}
		return nil, fmt.Errorf("failed to store the invitation at the relay: %w", err)
	}
	return &CreatedInvitation{Code: code, Words: code.String(), For: party, ID: shown.Lookup, State: shown.State, Expires: inv.Expires}, nil
}

// postJSON posts body to path as this device and decodes the JSON answer
// into out.
func (p *Party) postJSON(ctx context.Context, path string, body []byte, out any) error {
	resp, err := p.do(ctx, http.MethodPost, path, bodyOf(body), int64(len(body)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("bad answer from relay: %w", err)
	}
	return nil
}

// InviteAuthError is an invitation or an answer that the code does not
// authenticate: the relay (or someone between) changed it. Nothing was
// pinned.
type InviteAuthError struct {
	What  string // "invitation" or "answer"
	Party string // who it claims to come from
}

func (e *InviteAuthError) Error() string {
	return fmt.Sprintf("the %s from %s that the relay shows does not match the code: the relay, or someone between, changed it; nothing was pinned. "+
		"Do not use it: tell %s by phone, and compare fingerprints ('brief party show') before anything else", e.What, e.Party, e.Party)
}

// AcceptedInvitation is an invitation this device accepted: the inviting
// party, pinned, and its roster.
type AcceptedInvitation struct {
	From            string `json:"from"`
	RootFingerprint string `json:"root_fingerprint"`
	RosterSerial    uint64 `json:"roster_serial"`
	Devices         int    `json:"devices"`
}

// AcceptInvitation redeems an invitation with the code the inviting party
// gave out of band: it fetches the invitation, checks that the code
// authenticates it, checks the inviting party's roster chain from the
// root key in it, answers with this party's pinned root key and channel
// consent (authenticated with the same code), and pins the inviting
// party. The relay opens the channel once the inviting party consents too.
// A wrong code finds no invitation; nothing is stored then, nor when a
// check fails.
func (p *Party) AcceptInvitation(ctx context.Context, code identity.InviteCode) (*AcceptedInvitation, error) {
	id := hex.EncodeToString(code.ID())
	var shown api.Invitation
	err := p.getJSON(ctx, api.PathInvitations+"/"+id, &shown)
	var re *RelayError
	if errors.As(err, &re) && re.Code == api.CodeNotFound {
		return nil, fmt.Errorf("no invitation for %q has this code: check every word with the party that gave it to you (after %d wrong codes the relay burns the invitations waiting for you)", p.Name(), api.MaxInviteMisses)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to fetch the invitation: %w", err)
	}
	inv, err := identity.OpenInvitation(code, shown.Invitation)
	if errors.Is(err, identity.ErrInviteAuth) {
		return nil, &InviteAuthError{What: "invitation", Party: shown.From}
	}
	if err != nil {
		return nil, fmt.Errorf("the relay shows an invitation that does not parse: %w", err)
	}
	if inv.For != p.Name() {
		return nil, fmt.Errorf("this invitation from %q is for %q, not for %q", inv.From, inv.For, p.Name())
	}
	if !p.now().Before(inv.Expires) {
		return nil, fmt.Errorf("this invitation from %q expired on %s: ask them for a new one", inv.From, inv.Expires.Format(time.RFC3339))
	}
	if c, err := p.contactFile(inv.From); err == nil && !bytes.Equal(c.Root, inv.Root) {
		return nil, fmt.Errorf("%q is pinned already to another root key (%s) than the invitation's (%s): compare fingerprints with them by phone",
			inv.From, identity.Fingerprint(c.Root), identity.Fingerprint(inv.Root))
	}
	chain, err := p.fetchChain(ctx, inv.From)
	if err != nil {
		return nil, err
	}
	if _, err := identity.VerifyChain(inv.Root, chain); err != nil {
		return nil, fmt.Errorf("the relay shows a roster chain of %q that does not follow from the root key in the invitation: %w", inv.From, err)
	}
	if err := p.rostersLogged(ctx, inv.From, chain); err != nil {
		return nil, err
	}
	own, err := p.PinnedRoot()
	if err != nil {
		return nil, err
	}
	answer, err := identity.NewInviteAnswer(code, inv, p.Name(), own)
	if err != nil {
		return nil, err
	}
	consent, err := identity.SignChannelConsent(p.keys.Sign, p.Name(), p.Device(), inv.From, inv.Lookup)
	if err != nil {
		return nil, err
	}
	// Pin first: once the answer is at the relay the invitation is used,
	// and an accept that failed after it could not be done again.
	ros, err := p.AddContact(ctx, inv.From, inv.Root)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(api.InvitationAnswer{Answer: answer.Raw, Consent: consent.Raw})
	if err := p.postJSON(ctx, api.PathInvitations+"/"+id+"/answer", body, &shown); err != nil {
		return nil, fmt.Errorf("failed to answer the invitation (the inviting party is pinned; run the same accept again): %w", err)
	}
	return &AcceptedInvitation{From: inv.From, RootFingerprint: identity.Fingerprint(inv.Root), RosterSerial: ros.Serial, Devices: len(ros.Devices)}, nil
}

// InvitationStatus is where one invitation this device made stands.
type InvitationStatus struct {
	For     string    `json:"for"`
	ID      string    `json:"id"`
	State   string    `json:"state"` // the relay's, or "refused" when the answer failed a check here
	Expires time.Time `json:"expires"`
	// RootFingerprint is the invited party's, pinned from its answer.
	RootFingerprint string `json:"root_fingerprint,omitempty"`
	Error           string `json:"error,omitempty"` // why an answer was refused
}

// InvitationStatus asks the relay about every invitation this device made
// and has not seen to its end. An answered one is checked with its code:
// the answer must be authenticated by it and the invited party's roster
// chain must follow from the root key in it. Then the invited party is
// pinned and this party's consent is sent, and the relay opens the
// channel. An invitation that is done, expired or burnt is forgotten; one
// whose answer failed a check is kept, and shown as "refused".
func (p *Party) InvitationStatus(ctx context.Context) ([]InvitationStatus, error) {
	stored, err := p.sentInvitations()
	if err != nil {
		return nil, err
	}
	var out []InvitationStatus
	for _, si := range stored {
		st, err := p.pickUp(ctx, si.sentInvitation)
		if err != nil {
			return nil, err
		}
		if st.State != "refused" && st.State != "open" && st.State != "awaiting-approval" && st.State != "answered" {
			os.Remove(si.path)
		}
		if st.ID == "" {
			st.ID = si.lookup
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b InvitationStatus) int { return a.Expires.Compare(b.Expires) })
	return out, nil
}

// storedInvitation is one of this device's invitations as kept in
// invitations/<lookup>.json.
type storedInvitation struct {
	sentInvitation
	lookup, path string
}

// sentInvitations reads the invitations this device made and has not
// seen to their end.
func (p *Party) sentInvitations() ([]storedInvitation, error) {
	dir := filepath.Join(p.dir, "invitations")
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var out []storedInvitation
	for _, e := range entries {
		lookup, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		si := storedInvitation{lookup: lookup, path: filepath.Join(dir, e.Name())}
		if err := readJSONFile(si.path, &si.sentInvitation); err != nil {
			return nil, err
		}
		out = append(out, si)
	}
	return out, nil
}

// pickUp asks the relay about one invitation and, if it is answered,
// checks the answer, pins the invited party and consents.
func (p *Party) pickUp(ctx context.Context, rec sentInvitation) (InvitationStatus, error) {
	st := InvitationStatus{For: rec.For, Expires: rec.Expires}
	code, err := identity.ParseInviteCode(rec.Code)
	if err != nil {
		return st, fmt.Errorf("stored invitation for %q: %w", rec.For, err)
	}
	id := hex.EncodeToString(code.ID())
	var shown api.Invitation
	err = p.getJSON(ctx, api.PathInvitations+"/"+id, &shown)
	var re *RelayError
	if errors.As(err, &re) && re.Code == api.CodeNotFound {
		st.State = "unknown"
		st.Error = "the relay does not know this invitation"
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("failed to ask about the invitation for %q: %w", rec.For, err)
	}
	st.ID, st.State = shown.Lookup, shown.State
	if shown.State != "answered" {
		return st, nil
	}
	root, err := p.checkAnswer(ctx, code, rec, shown)
	if err != nil {
		st.State, st.Error = "refused", err.Error()
		return st, nil
	}
	consent, err := identity.SignChannelConsent(p.keys.Sign, p.Name(), p.Device(), rec.For, identity.InviteLookup(code.ID()))
	if err != nil {
		return st, err
	}
	if err := p.postJSON(ctx, api.PathInvitations+"/"+id+"/consent", consent.Raw, &shown); err != nil {
		return st, fmt.Errorf("failed to consent to the channel with %q: %w", rec.For, err)
	}
	st.State, st.RootFingerprint = shown.State, identity.Fingerprint(root)
	return st, nil
}

// checkAnswer checks the answer the relay shows against the code and our
// own invitation, verifies the invited party's roster chain and consent,
// and pins it. It returns the pinned root key.
func (p *Party) checkAnswer(ctx context.Context, code identity.InviteCode, rec sentInvitation, shown api.Invitation) (ed25519.PublicKey, error) {
	inv, err := identity.OpenInvitation(code, shown.Invitation)
	if err != nil || inv.For != rec.For || inv.From != p.Name() {
		return nil, &InviteAuthError{What: "invitation", Party: p.Name()}
	}
	a, err := identity.OpenInviteAnswer(code, inv, shown.Answer)
	if errors.Is(err, identity.ErrInviteAuth) {
		return nil, &InviteAuthError{What: "answer", Party: rec.For}
	}
	if err != nil {
		return nil, err
	}
	chain, err := p.fetchChain(ctx, rec.For)
	if err != nil {
		return nil, err
	}
	ros, err := identity.VerifyChain(a.Root, chain)
	if err != nil {
		return nil, fmt.Errorf("the relay shows a roster chain of %q that does not follow from the root key in its answer: %w", rec.For, err)
	}
	cons, err := identity.ParseChannelConsent(shown.Consent)
	if err != nil || cons.Party != rec.For || cons.Lookup != inv.Lookup || ros.Device(cons.Device) == nil || !cons.Verify(ros.Device(cons.Device).Key) {
		return nil, fmt.Errorf("the consent of %q that the relay shows is not signed by a device on its roster", rec.For)
	}
	if c, err := p.contactFile(rec.For); err == nil && !bytes.Equal(c.Root, a.Root) {
		return nil, fmt.Errorf("%q is pinned already to another root key (%s) than its answer's (%s): compare fingerprints with them by phone",
			rec.For, identity.Fingerprint(c.Root), identity.Fingerprint(a.Root))
	}
	if _, err := p.AddContact(ctx, rec.For, a.Root); err != nil {
		return nil, err
	}
	return a.Root, nil
}
