package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

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
// if its status is 2xx, or a *RelayError. body, if not nil, opens the
// request body; it is called again for each node the request goes to.
//
// A relay may be several nodes (the descriptor's URLs). The request goes
// first to the node that answered last; if that node cannot be reached, or
// answers 503, it goes on to the next, until every node was tried; if all
// failed so, it tries them all again for a while (failoverWait).
// Every request of the API is idempotent (a repost answers the same
// receipt), so sending one again to another node is safe.
func (p *Party) do(ctx context.Context, method, path string, body func() (io.Reader, error), size int64) (*http.Response, error) {
	urls := p.relayURLs()
	deadline := time.Now().Add(failoverWait)
	for pause := failoverPause; ; pause = min(2*pause, time.Second) {
		resp, again, err := p.tryNodes(ctx, urls, method, path, body, size)
		if !again || len(urls) == 1 || time.Now().Add(pause).After(deadline) {
			return resp, err
		}
		// Every node failed or said "not now": a cluster may be electing
		// a new leader. Try them all again shortly.
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(pause):
		}
	}
}

// Riding out a cluster's failover: when every node of a relay failed or
// answered 503, do tries them all again after failoverPause (doubling, up
// to a second between passes) until failoverWait has passed.
const (
	failoverPause = 250 * time.Millisecond
	failoverWait  = 15 * time.Second
)

// tryNodes sends the request to each node once, from the one that
// answered last, and stops at the first answer that is not "try the next
// node". again reports that every node failed that way; err is then the
// last failure.
func (p *Party) tryNodes(ctx context.Context, urls []string, method, path string, body func() (io.Reader, error), size int64) (resp *http.Response, again bool, err error) {
	first := int(p.node.Load()) % len(urls)
	for i := range urls {
		n := (first + i) % len(urls)
		var r io.Reader
		if body != nil {
			if r, err = body(); err != nil {
				return nil, false, err
			}
		}
		resp, err = doRequest(ctx, p.http, urls[n], method, path, r, size, func(h http.Header) {
			h.Set(api.HeaderParty, p.keys.Party)
			h.Set(api.HeaderDevice, p.keys.Device)
		})
		if !tryNextNode(ctx, err) {
			if err == nil {
				p.node.Store(int32(n))
			}
			return resp, false, err
		}
		if len(urls) > 1 {
			p.log.Debug("relay node failed, trying the next", "url", urls[n], "err", err)
		}
	}
	return nil, true, err
}

// relayURLs returns the addresses of the relay's nodes, the descriptor's
// URL first.
func (p *Party) relayURLs() []string {
	out := []string{p.relay.URL}
	for _, u := range p.relay.URLs {
		if u != p.relay.URL {
			out = append(out, u)
		}
	}
	return out
}

// tryNextNode reports whether a request that failed with err should go to
// another relay node: the node could not be reached or said it cannot
// serve now (503). A refusal is the relay's answer, and stands.
func tryNextNode(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var re *RelayError
	if errors.As(err, &re) {
		return re.Status == http.StatusServiceUnavailable
	}
	return true
}

// bodyOf returns a body opener for a request body held in memory.
func bodyOf(b []byte) func() (io.Reader, error) {
	return func() (io.Reader, error) { return bytes.NewReader(b), nil }
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
