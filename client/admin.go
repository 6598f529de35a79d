package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"brieftraeger/internal/api"
	"brieftraeger/internal/tlspin"
)

// Admin is the relay operator's client: it admits parties and opens
// channels, authenticated by the relay's admin key.
type Admin struct {
	url  string
	http *http.Client
}

// NewAdmin returns an operator client for the relay at url whose
// certificate has the pinned SHA-256.
func NewAdmin(url, pinnedSHA256 string, adminKey ed25519.PrivateKey) (*Admin, error) {
	conf, err := tlspin.ClientTLSConfig(adminKey, pinnedSHA256)
	if err != nil {
		return nil, err
	}
	return &Admin{url: url, http: &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}}, nil
}

// Admit admits a party with its signed roster, or updates its roster.
func (a *Admin) Admit(ctx context.Context, party string, roster []byte) error {
	resp, err := doRequest(ctx, a.http, a.url, http.MethodPut, api.PathParties+"/"+party, bytes.NewReader(roster), int64(len(roster)), nil)
	if err != nil {
		return fmt.Errorf("failed to admit %q: %w", party, err)
	}
	resp.Body.Close()
	return nil
}

// OpenChannel opens the channel between two admitted parties.
func (a *Admin) OpenChannel(ctx context.Context, x, y string) error {
	body, _ := json.Marshal(api.Channel{A: x, B: y})
	resp, err := doRequest(ctx, a.http, a.url, http.MethodPost, api.PathChannels, bytes.NewReader(body), int64(len(body)), nil)
	if err != nil {
		return fmt.Errorf("failed to open channel: %w", err)
	}
	resp.Body.Close()
	return nil
}

// Channels lists the open channels.
func (a *Admin) Channels(ctx context.Context) ([]api.Channel, error) {
	resp, err := doRequest(ctx, a.http, a.url, http.MethodGet, api.PathChannels, nil, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to list channels: %w", err)
	}
	defer resp.Body.Close()
	var out []api.Channel
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("bad answer from relay: %w", err)
	}
	return out, nil
}

// Metrics fetches the relay's metrics in the Prometheus text format; only
// the admin key may read them.
func (a *Admin) Metrics(ctx context.Context) ([]byte, error) {
	resp, err := doRequest(ctx, a.http, a.url, http.MethodGet, "/metrics", nil, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to fetch metrics: %w", err)
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 16<<20))
}
