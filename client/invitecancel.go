package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"brieftraeger/identity"
	"brieftraeger/internal/api"
)

// minIDPrefix is the shortest start of an invitation's id that names it.
const minIDPrefix = 8

// CancelInvitation withdraws the invitations this device made that match
// which: the invited party's name, or the start (at least 8 hex digits)
// of an invitation's id as 'brief invite status' shows it. The relay then
// refuses to show, answer or consent to them, and this device forgets
// them, an answer refused here included (after the people have acted on
// it). It returns the invitations withdrawn.
func (p *Party) CancelInvitation(ctx context.Context, which string) ([]InvitationStatus, error) {
	if which == "" {
		return nil, fmt.Errorf("name the invited party or the invitation's id")
	}
	stored, err := p.sentInvitations()
	if err != nil {
		return nil, err
	}
	var out []InvitationStatus
	for _, si := range stored {
		rec, lookup := si.sentInvitation, si.lookup
		if rec.For != which && (len(which) < minIDPrefix || !strings.HasPrefix(lookup, strings.ToLower(which))) {
			continue
		}
		code, err := identity.ParseInviteCode(rec.Code)
		if err != nil {
			return out, fmt.Errorf("stored invitation for %q: %w", rec.For, err)
		}
		var shown api.Invitation
		path := api.PathInvitations + "/" + hex.EncodeToString(code.ID()) + "/cancel"
		if err := p.postJSON(ctx, path, nil, &shown); err != nil {
			var re *RelayError
			if !errors.As(err, &re) || re.Status/100 != 4 {
				return out, fmt.Errorf("failed to withdraw the invitation for %q: %w", rec.For, err)
			}
			shown.State = re.Code // the relay no longer holds it as it was: forget it all the same
		}
		if err := os.Remove(si.path); err != nil {
			return out, err
		}
		if err := syncDir(filepath.Dir(si.path)); err != nil {
			return out, err
		}
		out = append(out, InvitationStatus{For: rec.For, ID: lookup, State: shown.State, Expires: rec.Expires})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("this device has no invitation for %q waiting", which)
	}
	return out, nil
}
