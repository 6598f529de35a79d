package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/internal/light"
	"brieftraeger/store"
)

// putRoster admits a party with its first roster, or takes a new version
// of an admitted party's roster that chains to the current one.
func (r *Relay) putRoster(w http.ResponseWriter, req *http.Request) {
	if err := r.takeRoster(req, true); err != nil {
		r.writeError(w, req, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"party": req.PathValue("party")})
}

// putOwnRoster takes a new version of the caller's own party's roster from
// one of its devices. The party's root key signed it; the relay checks that
// it follows the current version. Only the operator admits a new party.
func (r *Relay) putOwnRoster(w http.ResponseWriter, req *http.Request, c *caller) error {
	if party := req.PathValue("party"); party != c.party {
		return fail(http.StatusForbidden, api.CodeForbidden, "a device of %q cannot change the roster of %q", c.party, party)
	}
	if err := r.takeRoster(req, false); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"party": c.party})
	return nil
}

// takeRoster stores the roster in the request body for the party in its
// path if it follows the party's current roster; a party with no roster
// yet is admitted only if admit is set.
func (r *Relay) takeRoster(req *http.Request, admit bool) error {
	party := req.PathValue("party")
	raw, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		return fail(http.StatusBadRequest, api.CodeMalformed, "failed to read roster: %v", err)
	}
	var prev *identity.Roster
	cur, err := r.cfg.Store.Roster(req.Context(), party)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if !admit {
			return fail(http.StatusNotFound, api.CodeUnknownParty, "unknown party %q", party)
		}
	case err != nil:
		return err
	case bytes.Equal(cur, raw):
		return nil
	default:
		if prev, err = identity.DecodeRoster(cur); err != nil {
			return err
		}
	}
	ros, err := identity.ParseRoster(raw, prev)
	if err != nil {
		if r, derr := identity.DecodeRoster(raw); derr == nil && prev != nil && r.Party == prev.Party && r.Serial == prev.Serial {
			// Made after the same version as the current one: another
			// change got there first.
			return fail(http.StatusConflict, api.CodeConflict, "roster %d of %q was changed meanwhile by another change; follow it and try again", prev.Serial, party)
		}
		return fail(http.StatusBadRequest, api.CodeMalformed, "%v", err)
	}
	if ros.Party != party {
		return fail(http.StatusBadRequest, api.CodeMalformed, "roster is for %q, not %q", ros.Party, party)
	}
	err = r.cfg.Store.PutRoster(req.Context(), party, raw, cur)
	if errors.Is(err, store.ErrConflict) {
		return fail(http.StatusConflict, api.CodeConflict, "the roster of %q changed while this one was checked; try again", party)
	} else if err != nil {
		return err
	}
	r.log.Info("roster admitted", "party", party, "serial", ros.Serial)
	// Not the request's context: a client gone after sending the roster
	// must not leave the bundles of the epochs it dropped.
	r.dropEpochBundles(context.WithoutCancel(req.Context()), ros)
	return nil
}

func (r *Relay) openChannel(w http.ResponseWriter, req *http.Request) {
	var ch api.Channel
	err := json.NewDecoder(io.LimitReader(req.Body, 4096)).Decode(&ch)
	if err != nil {
		err = fail(http.StatusBadRequest, api.CodeMalformed, "bad channel request: %v", err)
	}
	for _, p := range []string{ch.A, ch.B} {
		if err == nil {
			_, err = r.roster(req.Context(), p)
		}
	}
	if err == nil && ch.A == ch.B {
		err = fail(http.StatusBadRequest, api.CodeMalformed, "a channel joins two different parties")
	}
	if err == nil {
		err = r.cfg.Store.OpenChannel(req.Context(), ch.A, ch.B)
	}
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	r.log.Info("channel opened", "a", ch.A, "b", ch.B)
	writeJSON(w, http.StatusOK, ch)
}

func (r *Relay) listChannels(w http.ResponseWriter, req *http.Request) {
	list, err := r.cfg.Store.Channels(req.Context())
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	interval := time.Minute
	if q := req.URL.Query().Get("interval"); q != "" {
		if interval, err = time.ParseDuration(q); err != nil || interval <= 0 {
			r.writeError(w, req, fail(http.StatusBadRequest, api.CodeMalformed, "interval must be a positive duration"))
			return
		}
	}
	seen, err := r.cfg.Store.Seen(req.Context())
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	// The counts come second: without them the lights are still shown.
	late, err := r.overdue(req.Context())
	unknown := err != nil
	if unknown {
		r.log.Warn("channels: failed to count overdue letters", "err", err)
	}
	overdue := overdueCounts(late)
	out := make([]api.Channel, 0, len(list))
	for _, c := range list {
		ch := api.Channel{A: c[0], B: c[1]}
		ab, ba := seen[store.Direction{From: c[0], To: c[1]}], seen[store.Direction{From: c[1], To: c[0]}]
		if !ab.IsZero() {
			ch.LastAB = &ab
		}
		if !ba.IsZero() {
			ch.LastBA = &ba
		}
		ch.Light = light.Judge(r.cfg.Now(), ab, ba, interval, interval)
		ch.OverdueAB, ch.OverdueBA = overdue[store.Direction{From: c[0], To: c[1]}], overdue[store.Direction{From: c[1], To: c[0]}]
		ch.OverdueUnknown = unknown
		out = append(out, ch)
	}
	writeJSON(w, http.StatusOK, out)
}
