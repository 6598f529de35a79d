package client

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"brieftraeger/internal/api"
	"brieftraeger/internal/tlspin"
)

// Admin is the relay operator's client: it admits parties and opens
// channels, authenticated by the relay's admin key. It fails over between
// a relay's nodes as a party's device does.
type Admin struct {
	nodes *relayNodes
}

// NewAdmin returns an operator client for the relay that descriptor d
// names: at its nodes' URLs, or only at url if url is not empty.
func NewAdmin(d api.Descriptor, url string, adminKey ed25519.PrivateKey) (*Admin, error) {
	conf, err := tlspin.ClientTLSConfig(adminKey, d.TLSSHA256)
	if err != nil {
		return nil, err
	}
	if url != "" {
		d.URL, d.URLs = url, nil
	}
	return &Admin{nodes: newRelayNodes(d, conf, slog.New(slog.DiscardHandler))}, nil
}

// Admit admits a party with its signed roster, or updates its roster.
func (a *Admin) Admit(ctx context.Context, party string, roster []byte) error {
	resp, err := a.nodes.do(ctx, http.MethodPut, api.PathParties+"/"+party, bodyOf(roster), int64(len(roster)), nil)
	if err != nil {
		return fmt.Errorf("failed to admit %q: %w", party, err)
	}
	resp.Body.Close()
	return nil
}

// OpenChannel opens the channel between two admitted parties.
func (a *Admin) OpenChannel(ctx context.Context, x, y string) error {
	body, _ := json.Marshal(api.Channel{A: x, B: y})
	resp, err := a.nodes.do(ctx, http.MethodPost, api.PathChannels, bodyOf(body), int64(len(body)), nil)
	if err != nil {
		return fmt.Errorf("failed to open channel: %w", err)
	}
	resp.Body.Close()
	return nil
}

// Channels lists the open channels, with the light of each judged at the
// given heartbeat interval (0: the relay's default, 60 s) and the letters
// overdue each way.
func (a *Admin) Channels(ctx context.Context, interval time.Duration) ([]api.Channel, error) {
	path := api.PathChannels
	if interval > 0 {
		path += "?interval=" + url.QueryEscape(interval.String())
	}
	var out []api.Channel
	err := a.getJSON(ctx, path, "list channels", &out)
	return out, err
}

// Overdue lists the letters waiting in a mailbox past their delivery
// deadline, the first due first.
func (a *Admin) Overdue(ctx context.Context) ([]api.Overdue, error) {
	var out []api.Overdue
	err := a.getJSON(ctx, api.PathOverdue, "list overdue letters", &out)
	return out, err
}

// getJSON decodes the relay's JSON answer to GET path into out; what says
// what failed.
func (a *Admin) getJSON(ctx context.Context, path, what string, out any) error {
	resp, err := a.nodes.do(ctx, http.MethodGet, path, nil, 0, nil)
	if err != nil {
		return fmt.Errorf("failed to %s: %w", what, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("failed to %s: bad answer from relay: %w", what, err)
	}
	return nil
}

// Metrics fetches the relay's metrics in the Prometheus text format; only
// the admin key may read them.
func (a *Admin) Metrics(ctx context.Context) ([]byte, error) {
	resp, err := a.nodes.do(ctx, http.MethodGet, "/metrics", nil, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to fetch metrics: %w", err)
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 16<<20))
}
