package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/store"
)

// A party's epoch bundles (PathEpochs): the root holder's device puts the
// bundle of a new epoch before the roster that names it; the party's
// devices fetch it; a bundle whose epoch the roster no longer names is
// erased. The relay cannot open a bundle; devices check what they fetch
// against the roster.

// ageHeader starts every age file.
var ageHeader = []byte("age-encryption.org/v1\n")

// epochRequest checks that the caller is a device of the party in the
// path and returns the party's current roster and the epoch number.
func (r *Relay) epochRequest(req *http.Request, c *caller) (*identity.Roster, uint32, error) {
	party := req.PathValue("party")
	if party != c.party {
		return nil, 0, fail(http.StatusForbidden, api.CodeForbidden, "a device of %q cannot reach the epoch keys of %q", c.party, party)
	}
	n, err := parseEpochNumber(req.PathValue("n"))
	if err != nil {
		return nil, 0, fail(http.StatusBadRequest, api.CodeMalformed, "%v", err)
	}
	ros, err := r.currentRoster(req.Context(), party)
	if err != nil {
		return nil, 0, err
	}
	return ros, n, nil
}

// parseEpochNumber parses an epoch number in its one decimal form, 1 to
// 2^32-1.
func parseEpochNumber(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != s {
		return 0, errors.New("an epoch number is a decimal from 1 to 4294967295")
	}
	return uint32(n), nil
}

// newestEpoch returns the highest epoch number ros names.
func newestEpoch(ros *identity.Roster) uint32 { return ros.Epochs[len(ros.Epochs)-1].Number }

// putEpoch stores the bundle of the party's next epoch: the one after the
// newest its current roster names, and not yet named.
func (r *Relay) putEpoch(w http.ResponseWriter, req *http.Request, c *caller) error {
	ros, n, err := r.epochRequest(req, c)
	if err != nil {
		return err
	}
	if next := newestEpoch(ros) + 1; n != next {
		return fail(http.StatusConflict, api.CodeConflict, "roster %d of %q names epochs up to %d: only the bundle of epoch %d can be given now", ros.Serial, c.party, next-1, next)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, api.MaxEpochBundle+1))
	if err != nil {
		return fail(http.StatusBadRequest, api.CodeMalformed, "failed to read epoch bundle: %v", err)
	}
	if len(body) > api.MaxEpochBundle {
		return fail(http.StatusRequestEntityTooLarge, api.CodeTooLarge, "an epoch bundle is at most %d bytes", api.MaxEpochBundle)
	}
	if !bytes.HasPrefix(body, ageHeader) {
		return fail(http.StatusBadRequest, api.CodeMalformed, "an epoch bundle is an age file")
	}
	if err := r.cfg.Store.PutEpochBundle(req.Context(), c.party, n, body); err != nil {
		return err
	}
	r.log.Info("epoch bundle stored", "party", c.party, "epoch", n, "device", c.device.Name)
	writeJSON(w, http.StatusOK, map[string]any{"party": c.party, "epoch": n})
	return nil
}

// getEpoch answers the bundle of one of the party's epochs.
func (r *Relay) getEpoch(w http.ResponseWriter, req *http.Request, c *caller) error {
	ros, n, err := r.epochRequest(req, c)
	if err != nil {
		return err
	}
	if ros.Epoch(n) == nil {
		return fail(http.StatusNotFound, api.CodeNotFound, "roster %d of %q names no epoch %d", ros.Serial, c.party, n)
	}
	b, err := r.cfg.Store.EpochBundle(req.Context(), c.party, n)
	if errors.Is(err, store.ErrNotFound) {
		return fail(http.StatusNotFound, api.CodeNotFound, "the relay holds no bundle of epoch %d of %q", n, c.party)
	} else if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(b)
	return nil
}

// deleteEpoch erases the bundle of an epoch the party's roster no longer
// names.
func (r *Relay) deleteEpoch(w http.ResponseWriter, req *http.Request, c *caller) error {
	ros, n, err := r.epochRequest(req, c)
	if err != nil {
		return err
	}
	if ros.Epoch(n) != nil {
		return fail(http.StatusConflict, api.CodeConflict, "roster %d of %q still names epoch %d: a roster that drops it comes first", ros.Serial, c.party, n)
	}
	if err := r.cfg.Store.DeleteEpochBundle(req.Context(), c.party, n); err != nil {
		return err
	}
	r.log.Info("epoch bundle erased", "party", c.party, "epoch", n, "device", c.device.Name)
	writeJSON(w, http.StatusOK, map[string]any{"party": c.party, "epoch": n})
	return nil
}

// dropEpochBundles erases, when a roster is taken, the bundles of every
// epoch up to the newest it names that it does not name: those of the
// epochs it dropped, and any a failed erase or a change that lost left
// before. A bundle of a later number is a rotation's, put before its
// roster, and stays. The root holder's device deletes dropped bundles too.
func (r *Relay) dropEpochBundles(ctx context.Context, next *identity.Roster) {
	stored, err := r.cfg.Store.EpochBundles(ctx, next.Party)
	if err != nil {
		r.log.Warn("failed to list the epoch bundles of a party", "party", next.Party, "err", err)
		return
	}
	var newest uint32
	for _, e := range next.Epochs {
		newest = max(newest, e.Number)
	}
	for _, n := range stored {
		if n > newest || next.Epoch(n) != nil {
			continue
		}
		if err := r.cfg.Store.DeleteEpochBundle(ctx, next.Party, n); err != nil {
			r.log.Warn("failed to erase the bundle of a dropped epoch", "party", next.Party, "epoch", n, "err", err)
		}
	}
}
