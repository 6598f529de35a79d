package client

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

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
