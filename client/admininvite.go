package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"brieftraeger/internal/api"
)

// Invitations lists the invitations the relay holds, the oldest first.
func (a *Admin) Invitations(ctx context.Context) ([]api.AdminInvitation, error) {
	var out []api.AdminInvitation
	err := a.getJSON(ctx, api.PathAdminInvitations, "list invitations", &out)
	return out, err
}

// ApproveInvitation approves the invitation whose id starts with prefix
// (at least 8 hex digits), so that the invited party may answer it; for a
// relay run with the "approve" invitation policy.
func (a *Admin) ApproveInvitation(ctx context.Context, prefix string) error {
	resp, err := a.nodes.do(ctx, http.MethodPost, api.PathAdminInvitations+"/"+url.PathEscape(prefix)+"/approve", nil, 0, nil)
	if err != nil {
		return fmt.Errorf("failed to approve invitation: %w", err)
	}
	resp.Body.Close()
	return nil
}
