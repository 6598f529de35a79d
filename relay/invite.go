package relay

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/store"
)

// Invitation policies (Config.Invitations): who may open a channel by
// invitation.
const (
	InvitationsAny     = "any"     // any admitted party may invite any other
	InvitationsApprove = "approve" // an invitation waits for the operator's approval
	InvitationsOff     = "off"     // no invitations; only the operator opens channels
)

// Limits on invitations.
const (
	MaxInviteValidity = 30 * 24 * time.Hour // the latest expiry an invitation may have
	MaxInviteMisses   = api.MaxInviteMisses // wrong codes from the invited party that burn an invitation
	maxInviteBytes    = 4096
)

// CheckInvitationPolicy checks a value for Config.Invitations; "" is
// InvitationsAny.
func CheckInvitationPolicy(p string) error {
	switch p {
	case "", InvitationsAny, InvitationsApprove, InvitationsOff:
		return nil
	}
	return errors.New("invitation policy must be any, approve or off")
}

func (r *Relay) inviteRoutes() {
	r.mux.HandleFunc("POST "+api.PathInvitations, r.device(r.postInvitation))
	r.mux.HandleFunc("GET "+api.PathInvitations+"/{id}", r.device(r.getInvitation))
	r.mux.HandleFunc("POST "+api.PathInvitations+"/{id}/answer", r.device(r.answerInvitation))
	r.mux.HandleFunc("POST "+api.PathInvitations+"/{id}/consent", r.device(r.consentInvitation))
	r.mux.HandleFunc("POST "+api.PathInvitations+"/{id}/cancel", r.device(r.cancelInvitation))
	r.mux.HandleFunc("GET "+api.PathAdminInvitations, r.admin(r.listInvitations))
	r.mux.HandleFunc("POST "+api.PathAdminInvitations+"/{id}/approve", r.admin(r.approveInvitation))
}

// postInvitation stores an invitation from a device of its inviting
// party. The relay cannot check its MAC; it checks its form, its parties
// and its expiry, and applies the operator's policy.
func (r *Relay) postInvitation(w http.ResponseWriter, req *http.Request, c *caller) error {
	if r.cfg.Invitations == InvitationsOff {
		return fail(http.StatusForbidden, api.CodeForbidden, "this relay takes no invitations: ask its operator to open the channel")
	}
	raw, err := io.ReadAll(io.LimitReader(req.Body, maxInviteBytes+1))
	if err != nil || len(raw) > maxInviteBytes {
		return fail(http.StatusBadRequest, api.CodeMalformed, "failed to read invitation")
	}
	inv, err := identity.DecodeInvitation(raw)
	if err != nil {
		return fail(http.StatusBadRequest, api.CodeMalformed, "%v", err)
	}
	if inv.From != c.party {
		return fail(http.StatusForbidden, api.CodeForbidden, "a device of %q cannot invite in the name of %q", c.party, inv.From)
	}
	if _, err := r.roster(req.Context(), inv.For); err != nil {
		return err
	}
	now := r.cfg.Now()
	if !inv.Expires.After(now) || inv.Expires.After(now.Add(MaxInviteValidity)) {
		return fail(http.StatusBadRequest, api.CodeMalformed, "an invitation must expire within %v from now", MaxInviteValidity)
	}
	if open, err := r.cfg.Store.ChannelOpen(req.Context(), inv.From, inv.For); err != nil {
		return err
	} else if open {
		return fail(http.StatusConflict, api.CodeConflict, "the channel between %q and %q is open already", inv.From, inv.For)
	}
	state := store.InviteOpen
	if r.cfg.Invitations == InvitationsApprove {
		state = store.InviteAwaitingApproval
	}
	rec := &store.Invitation{Lookup: hex.EncodeToString(inv.Lookup[:]), From: inv.From, For: inv.For, State: state,
		Created: now.UTC(), Expires: inv.Expires, Raw: raw}
	err = r.cfg.Store.PutInvitation(req.Context(), rec)
	if errors.Is(err, store.ErrConflict) {
		return fail(http.StatusConflict, api.CodeConflict, "an invitation with this code is stored already")
	} else if err != nil {
		return err
	}
	r.log.Info("invitation stored", "from", inv.From, "for", inv.For, "state", state, "expires", inv.Expires)
	writeJSON(w, http.StatusCreated, r.shown(rec, true))
	return nil
}

// shown is an invitation as a device of one of its parties sees it; the
// answer and consent only for the inviting party.
func (r *Relay) shown(rec *store.Invitation, inviter bool) api.Invitation {
	out := api.Invitation{Lookup: rec.Lookup, From: rec.From, For: rec.For, State: rec.State, Expires: rec.Expires, Invitation: rec.Raw}
	if r.expired(rec) {
		out.State = "expired"
	}
	if inviter {
		out.Answer, out.Consent = rec.Answer, rec.ConsentFor
	}
	return out
}

// expired reports whether rec can no longer be answered.
func (r *Relay) expired(rec *store.Invitation) bool {
	return (rec.State == store.InviteOpen || rec.State == store.InviteAwaitingApproval) && !r.cfg.Now().Before(rec.Expires)
}

// findInvitation returns the invitation whose id is in the request path,
// if c's party is one of its parties. Any other id, which is what a wrong
// code gives, counts as a wrong code against the invitations waiting for
// c's party, and is answered 404.
func (r *Relay) findInvitation(ctx context.Context, req *http.Request, c *caller) (*store.Invitation, error) {
	id, err := hex.DecodeString(req.PathValue("id"))
	if err != nil || len(id) != 32 {
		return nil, fail(http.StatusBadRequest, api.CodeMalformed, "an invitation id is 64 hex digits")
	}
	lookup := identity.InviteLookup(id)
	rec, err := r.cfg.Store.GetInvitation(ctx, hex.EncodeToString(lookup[:]))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if rec == nil || c.party != rec.From && c.party != rec.For {
		if err := r.miss(ctx, c.party); err != nil {
			return nil, err
		}
		return nil, fail(http.StatusNotFound, api.CodeNotFound, "no invitation for %q has this code: check every word with the party that gave it to you", c.party)
	}
	return rec, nil
}

// miss counts a wrong code against every invitation waiting for party,
// and burns those that reach MaxInviteMisses.
func (r *Relay) miss(ctx context.Context, party string) error {
	list, err := r.cfg.Store.Invitations(ctx)
	if err != nil {
		return err
	}
	for _, rec := range list {
		for try := 0; try < 3 && rec.For == party && (rec.State == store.InviteOpen || rec.State == store.InviteAwaitingApproval); try++ {
			rec.Misses++
			if rec.Misses >= MaxInviteMisses {
				rec.State = store.InviteBurnt
			}
			err := r.cfg.Store.UpdateInvitation(ctx, rec)
			if !errors.Is(err, store.ErrConflict) {
				if err != nil {
					return err
				}
				if rec.State == store.InviteBurnt {
					r.log.Warn("invitation burnt by wrong codes", "from", rec.From, "for", rec.For, "misses", rec.Misses)
				}
				break
			}
			if rec, err = r.cfg.Store.GetInvitation(ctx, rec.Lookup); err != nil {
				return err
			}
		}
	}
	return nil
}

// usable refuses an invitation that the invited party can no longer
// fetch or answer.
func (r *Relay) usable(rec *store.Invitation) error {
	switch {
	case rec.State == store.InviteBurnt:
		return fail(http.StatusGone, api.CodeExpired, "this invitation was burnt after %d wrong codes: ask %q for a new one", MaxInviteMisses, rec.From)
	case rec.State == store.InviteCancelled:
		return fail(http.StatusGone, api.CodeExpired, "%q withdrew this invitation: ask them for a new one", rec.From)
	case r.expired(rec):
		return fail(http.StatusGone, api.CodeExpired, "this invitation expired on %s: ask %q for a new one", rec.Expires.Format(time.RFC3339), rec.From)
	case rec.State == store.InviteAwaitingApproval:
		return fail(http.StatusForbidden, api.CodeAwaiting, "the relay's operator has not approved this invitation yet: try again later")
	case rec.State != store.InviteOpen:
		return fail(http.StatusConflict, api.CodeUsed, "this invitation was used already: an invitation is good for one answer")
	}
	return nil
}

func (r *Relay) getInvitation(w http.ResponseWriter, req *http.Request, c *caller) error {
	rec, err := r.findInvitation(req.Context(), req, c)
	if err != nil {
		return err
	}
	if c.party == rec.For {
		if err := r.usable(rec); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, r.shown(rec, c.party == rec.From))
	return nil
}

// answerInvitation takes the invited party's answer and consent. The
// relay cannot check the answer's MAC; it checks that the answer names
// this invitation and these parties, and the consent's signature against
// the caller's roster.
func (r *Relay) answerInvitation(w http.ResponseWriter, req *http.Request, c *caller) error {
	rec, err := r.findInvitation(req.Context(), req, c)
	if err != nil {
		return err
	}
	if c.party != rec.For {
		return fail(http.StatusForbidden, api.CodeForbidden, "only %q can answer this invitation", rec.For)
	}
	var body api.InvitationAnswer
	if err := json.NewDecoder(io.LimitReader(req.Body, 4*maxInviteBytes)).Decode(&body); err != nil {
		return fail(http.StatusBadRequest, api.CodeMalformed, "bad answer: %v", err)
	}
	if rec.State == store.InviteAnswered && bytes.Equal(rec.Answer, body.Answer) && bytes.Equal(rec.ConsentFor, body.Consent) {
		writeJSON(w, http.StatusOK, r.shown(rec, false)) // a repeated request
		return nil
	}
	if err := r.usable(rec); err != nil {
		return err
	}
	a, err := identity.DecodeInviteAnswer(body.Answer)
	if err != nil {
		return fail(http.StatusBadRequest, api.CodeMalformed, "%v", err)
	}
	if hex.EncodeToString(a.Lookup[:]) != rec.Lookup || a.Invitation != identity.Hash(identity.ContextInviteHash, rec.Raw) ||
		a.From != rec.For || a.To != rec.From {
		return fail(http.StatusBadRequest, api.CodeMalformed, "the answer does not answer this invitation")
	}
	if err := r.checkConsent(body.Consent, rec, c.party, c.roster); err != nil {
		return err
	}
	rec.State, rec.Answer, rec.ConsentFor = store.InviteAnswered, body.Answer, body.Consent
	if err := r.cfg.Store.UpdateInvitation(req.Context(), rec); errors.Is(err, store.ErrConflict) {
		return fail(http.StatusConflict, api.CodeConflict, "the invitation changed meanwhile; try again")
	} else if err != nil {
		return err
	}
	r.log.Info("invitation answered", "from", rec.From, "for", rec.For)
	writeJSON(w, http.StatusOK, r.shown(rec, false))
	return nil
}

// checkConsent checks that raw is party's consent to the channel of rec,
// signed by a device on ros.
func (r *Relay) checkConsent(raw []byte, rec *store.Invitation, party string, ros *identity.Roster) error {
	cons, err := identity.ParseChannelConsent(raw)
	if err != nil {
		return fail(http.StatusBadRequest, api.CodeMalformed, "%v", err)
	}
	if cons.Party != party || cons.A != min(rec.From, rec.For) || cons.B != max(rec.From, rec.For) || hex.EncodeToString(cons.Lookup[:]) != rec.Lookup {
		return fail(http.StatusBadRequest, api.CodeMalformed, "the consent is not %q's to the channel of this invitation", party)
	}
	d := ros.Device(cons.Device)
	if d == nil || !cons.Verify(d.Key) {
		return fail(http.StatusForbidden, api.CodeBadSignature, "the consent of %q is not signed by a device on its roster", party)
	}
	return nil
}

// consentInvitation takes the inviting party's consent to an answered
// invitation and opens the channel: both consents are checked against
// the rosters the relay holds now.
func (r *Relay) consentInvitation(w http.ResponseWriter, req *http.Request, c *caller) error {
	ctx := req.Context()
	rec, err := r.findInvitation(ctx, req, c)
	if err != nil {
		return err
	}
	if c.party != rec.From {
		return fail(http.StatusForbidden, api.CodeForbidden, "only %q can consent for its side of this invitation", rec.From)
	}
	raw, err := io.ReadAll(io.LimitReader(req.Body, maxInviteBytes+1))
	if err != nil || len(raw) > maxInviteBytes {
		return fail(http.StatusBadRequest, api.CodeMalformed, "failed to read consent")
	}
	switch rec.State {
	case store.InviteDone:
		if bytes.Equal(rec.ConsentFrom, raw) {
			writeJSON(w, http.StatusOK, r.shown(rec, true))
			return nil
		}
		return fail(http.StatusConflict, api.CodeUsed, "the channel of this invitation is open already")
	case store.InviteAnswered:
	default:
		return fail(http.StatusConflict, api.CodeConflict, "%q has not answered this invitation: nothing to consent to yet", rec.For)
	}
	if err := r.checkConsent(raw, rec, c.party, c.roster); err != nil {
		return err
	}
	other, err := r.currentRoster(ctx, rec.For)
	if err != nil {
		return err
	}
	if err := r.checkConsent(rec.ConsentFor, rec, rec.For, other); err != nil {
		return fail(http.StatusConflict, api.CodeBadSignature, "the stored consent of %q no longer holds: %v", rec.For, err)
	}
	if err := r.cfg.Store.OpenChannel(ctx, rec.From, rec.For); err != nil {
		return err
	}
	rec.State, rec.ConsentFrom = store.InviteDone, raw
	if err := r.cfg.Store.UpdateInvitation(ctx, rec); errors.Is(err, store.ErrConflict) {
		return fail(http.StatusConflict, api.CodeConflict, "the invitation changed meanwhile; try again")
	} else if err != nil {
		return err
	}
	r.log.Info("channel opened by invitation", "a", rec.From, "b", rec.For)
	writeJSON(w, http.StatusOK, r.shown(rec, true))
	return nil
}

func (r *Relay) listInvitations(w http.ResponseWriter, req *http.Request) {
	list, err := r.cfg.Store.Invitations(req.Context())
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	out := make([]api.AdminInvitation, 0, len(list))
	for _, rec := range list {
		state := rec.State
		if r.expired(rec) {
			state = "expired"
		}
		out = append(out, api.AdminInvitation{ID: rec.Lookup, From: rec.From, For: rec.For, State: state,
			Created: rec.Created, Expires: rec.Expires, Misses: rec.Misses})
	}
	writeJSON(w, http.StatusOK, out)
}

// approveInvitation lets the invitation whose id (or a unique prefix of
// at least 8 hex digits) is in the path be fetched.
func (r *Relay) approveInvitation(w http.ResponseWriter, req *http.Request) {
	err := r.approve(req.Context(), req.PathValue("id"))
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": req.PathValue("id"), "state": store.InviteOpen})
}

func (r *Relay) approve(ctx context.Context, prefix string) error {
	if len(prefix) < 8 {
		return fail(http.StatusBadRequest, api.CodeMalformed, "give at least 8 hex digits of the invitation's id")
	}
	list, err := r.cfg.Store.Invitations(ctx)
	if err != nil {
		return err
	}
	var found *store.Invitation
	for _, rec := range list {
		if strings.HasPrefix(rec.Lookup, prefix) {
			if found != nil {
				return fail(http.StatusBadRequest, api.CodeMalformed, "more than one invitation has an id starting %s: give more digits", prefix)
			}
			found = rec
		}
	}
	switch {
	case found == nil:
		return fail(http.StatusNotFound, api.CodeNotFound, "no invitation has an id starting %s", prefix)
	case r.expired(found):
		return fail(http.StatusGone, api.CodeExpired, "the invitation expired on %s", found.Expires.Format(time.RFC3339))
	case found.State != store.InviteAwaitingApproval:
		return fail(http.StatusConflict, api.CodeConflict, "the invitation is %s, not awaiting approval", found.State)
	}
	found.State = store.InviteOpen
	if err := r.cfg.Store.UpdateInvitation(ctx, found); errors.Is(err, store.ErrConflict) {
		return fail(http.StatusConflict, api.CodeConflict, "the invitation changed meanwhile; try again")
	} else if err != nil {
		return err
	}
	r.log.Info("invitation approved", "from", found.From, "for", found.For)
	return nil
}

// cancelInvitation withdraws an invitation at the inviting party's
// request: it can no longer be fetched, answered or consented to. One
// whose channel is open already stays done.
func (r *Relay) cancelInvitation(w http.ResponseWriter, req *http.Request, c *caller) error {
	rec, err := r.findInvitation(req.Context(), req, c)
	if err != nil {
		return err
	}
	if c.party != rec.From {
		return fail(http.StatusForbidden, api.CodeForbidden, "only %q, which made this invitation, can withdraw it", rec.From)
	}
	for try := 0; rec.State != store.InviteDone && rec.State != store.InviteCancelled; try++ {
		rec.State = store.InviteCancelled
		err := r.cfg.Store.UpdateInvitation(req.Context(), rec)
		if err == nil {
			r.log.Info("invitation withdrawn", "from", rec.From, "for", rec.For)
			break
		}
		if !errors.Is(err, store.ErrConflict) || try == 2 {
			return err
		}
		if rec, err = r.cfg.Store.GetInvitation(req.Context(), rec.Lookup); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, r.shown(rec, true))
	return nil
}
