package client

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"brieftraeger/internal/api"
	"brieftraeger/internal/tlspin"
)

// TestFailoverMarksRetries sends a request to a relay of two nodes whose
// first answers 503: the request goes on to the second, marked as a retry
// (api.HeaderRetry), and the first try was not marked.
func TestFailoverMarksRetries(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	handler := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Header.Get(api.HeaderRetry))
			mu.Unlock()
			w.WriteHeader(status)
			if status != http.StatusOK {
				json.NewEncoder(w).Encode(api.Error{Code: "unavailable", Message: "not now"})
			}
		}
	}
	busy := httptest.NewTLSServer(handler(http.StatusServiceUnavailable))
	defer busy.Close()
	ready := httptest.NewTLSServer(handler(http.StatusOK))
	defer ready.Close()
	_, key, _ := ed25519.GenerateKey(nil)
	conf, err := tlspin.ClientTLSConfig(key, tlspin.CertSHA256(busy.Certificate().Raw))
	if err != nil {
		t.Fatal(err)
	}
	d := api.Descriptor{URL: busy.URL, URLs: []string{busy.URL, ready.URL}}
	n := newRelayNodes(d, conf, slog.New(slog.DiscardHandler))
	resp, err := n.do(context.Background(), http.MethodGet, "/v1/info", nil, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != "" || seen[1] != "1" {
		t.Fatalf("%s headers seen by the two nodes: %q; want none, then 1", api.HeaderRetry, seen)
	}
}

// TestUnreachableNamesEveryNode sends a request to a relay of two nodes
// that both refuse connections: the error is an *UnreachableError naming
// both. A node that answers with a certificate other than the pinned one
// is not unreachable: it answered.
func TestUnreachableNamesEveryNode(t *testing.T) {
	var urls []string
	for range 2 {
		s := httptest.NewTLSServer(http.NotFoundHandler())
		urls = append(urls, s.URL)
		s.Close()
	}
	other := httptest.NewUnstartedServer(http.NotFoundHandler())
	other.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	other.StartTLS()
	defer other.Close()
	_, key, _ := ed25519.GenerateKey(nil)
	conf, err := tlspin.ClientTLSConfig(key, strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	// The deadline ends the failover's second pass.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	n := newRelayNodes(api.Descriptor{URL: urls[0], URLs: urls}, conf, slog.New(slog.DiscardHandler))
	_, err = n.do(ctx, http.MethodGet, "/v1/info", nil, 0, nil)
	var ue *UnreachableError
	if !errors.Is(err, ErrUnreachable) || !errors.As(err, &ue) || !slices.Equal(ue.URLs, urls) {
		t.Fatalf("two nodes down: %v (%#v); want an *UnreachableError naming %q", err, ue, urls)
	}
	n = newRelayNodes(api.Descriptor{URL: other.URL}, conf, slog.New(slog.DiscardHandler))
	if _, err = n.do(context.Background(), http.MethodGet, "/v1/info", nil, 0, nil); err == nil || errors.Is(err, ErrUnreachable) {
		t.Fatalf("a node with another certificate: %v; want an error that is not ErrUnreachable", err)
	}
}
