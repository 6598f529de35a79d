package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"brieftraeger/internal/api"
)

// RelayError is a refusal from the relay, with its stable code.
type RelayError struct {
	Status  int
	Code    string
	Message string
}

func (e *RelayError) Error() string {
	return fmt.Sprintf("relay refused: %s (%s)", e.Message, e.Code)
}

// do sends a request to the relay as this device and returns the response
// if its status is 2xx, or a *RelayError.
func (p *Party) do(ctx context.Context, method, path string, body io.Reader, size int64) (*http.Response, error) {
	return doRequest(ctx, p.http, p.relay.URL, method, path, body, size, func(h http.Header) {
		h.Set(api.HeaderParty, p.keys.Party)
		h.Set(api.HeaderDevice, p.keys.Device)
	})
}

func doRequest(ctx context.Context, c *http.Client, base, method, path string, body io.Reader, size int64, hdr func(http.Header)) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
	}
	if hdr != nil {
		hdr(req.Header)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("failed to reach relay: %w", err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e api.Error
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e); err != nil || e.Code == "" {
		return nil, &RelayError{Status: resp.StatusCode, Code: "http", Message: resp.Status}
	}
	return nil, &RelayError{Status: resp.StatusCode, Code: e.Code, Message: e.Message}
}

// getJSON fetches path and decodes its JSON answer into v.
func (p *Party) getJSON(ctx context.Context, path string, v any) error {
	resp, err := p.do(ctx, http.MethodGet, path, nil, 0)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v); err != nil {
		return fmt.Errorf("bad answer from relay: %w", err)
	}
	return nil
}

// getBytes fetches path and returns at most limit bytes of its answer.
func (p *Party) getBytes(ctx context.Context, path string, limit int64) ([]byte, error) {
	resp, err := p.do(ctx, http.MethodGet, path, nil, 0)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read answer from relay: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, errors.New("answer from relay too long")
	}
	return b, nil
}
