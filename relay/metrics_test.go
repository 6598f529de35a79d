package relay_test

import (
	"context"
	"crypto/ed25519"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"brieftraeger/internal/api"
	"brieftraeger/internal/tlspin"
)

// anyClient is a TLS client with a fresh key that is on no roster.
func (w *world) anyClient() *http.Client {
	w.t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	return w.clientWith(key)
}

// clientWith is a TLS client with the given key.
func (w *world) clientWith(key ed25519.PrivateKey) *http.Client {
	w.t.Helper()
	conf, err := tlspin.ClientTLSConfig(key, w.Dir.Descriptor.TLSSHA256)
	if err != nil {
		w.t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}, Timeout: 10 * time.Second}
	w.t.Cleanup(c.CloseIdleConnections)
	return c
}

func get(t *testing.T, c *http.Client, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// sampleLine is one sample of the text exposition format: a name, optional
// labels, and a value.
var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? ([-+]?(?:[0-9.eE+-]+|Inf|NaN))$`)

// scrape reads /metrics, checks every line's form, and returns the samples
// keyed by name and labels as written, e.g. `a_total{code="x"}`.
func scrape(t *testing.T, c *http.Client, base string) map[string]float64 {
	t.Helper()
	status, h, body := get(t, c, base+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %q", status, body)
	}
	if ct := h.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	samples := map[string]float64{}
	for i, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if line == "" || strings.HasPrefix(line, "# HELP ") || strings.HasPrefix(line, "# TYPE ") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("line %d is not a sample: %q", i+1, line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		key := m[1] + m[2]
		if _, dup := samples[key]; dup {
			t.Fatalf("line %d repeats sample %s", i+1, key)
		}
		samples[key] = v
	}
	return samples
}

func TestMetrics(t *testing.T) {
	w := newWorld(t, 64<<10)
	ctx := context.Background()
	ks := w.Keys(w.wash)
	s := seal(t, w.wash, ks, "tehran", []byte("hello"), nil)
	if st, answer := w.postAs(ks, s.frame()); st != http.StatusCreated {
		t.Fatalf("post: %d %q", st, answer)
	}
	if st, answer := w.postAs(ks, s.frame()); st != http.StatusOK {
		t.Fatalf("repost: %d %q", st, answer)
	}
	// Receiving twice files the delivered receipt twice; the relay keeps
	// (and counts) the first.
	for range 2 {
		if _, err := w.teh.Receive(ctx, s.h.ID.String()); err != nil {
			t.Fatal(err)
		}
	}
	if st, answer := w.postAs(ks, []byte("\x00\x05hello, relay")); st != http.StatusBadRequest || code(t, answer) != api.CodeMalformed {
		t.Fatalf("malformed post: %d %q", st, answer)
	}

	if status, _, _ := get(t, w.anyClient(), w.URL+"/metrics"); status != http.StatusForbidden {
		t.Fatalf("GET /metrics without the admin key: %d", status)
	}
	c := w.clientWith(w.Dir.AdminKey)
	var m map[string]float64
	// The log integrates every 50 ms: wait for three rosters, the
	// envelope, its posted receipt and the delivered receipt.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		m = scrape(t, c, w.URL)
		if m["brief_log_leaves"] >= 6 || time.Now().After(deadline) {
			break
		}
	}
	want := map[string]float64{
		`brief_letters_posted_total{precedence="ROUTINE"}`:    1,
		`brief_letters_posted_total{precedence="FLASH"}`:      0,
		`brief_letters_delivered_total{precedence="ROUTINE"}`: 1,
		`brief_letters_delivered_total{precedence="FLASH"}`:   0,
		`brief_post_to_delivered_seconds_count`:               1,
		`brief_post_to_delivered_seconds_bucket{le="+Inf"}`:   1,
		`brief_event_streams`:                                 0,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if got := m[`brief_refused_total{code="malformed"}`]; got < 1 {
		t.Errorf(`brief_refused_total{code="malformed"} = %v, want >= 1`, got)
	}
	if got := m["brief_log_leaves"]; got < 6 {
		t.Errorf("brief_log_leaves = %v, want >= 6", got)
	}
	if got := m["brief_post_to_delivered_seconds_sum"]; got < 0 || got > 60 {
		t.Errorf("brief_post_to_delivered_seconds_sum = %v", got)
	}
	if m[`brief_post_to_delivered_seconds_bucket{le="0.005"}`] > m[`brief_post_to_delivered_seconds_bucket{le="60"}`] {
		t.Error("histogram buckets are not cumulative")
	}

	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		status, _, body := get(t, c, w.URL+path)
		if status != http.StatusOK || strings.TrimSpace(body) != want {
			t.Errorf("GET %s: %d %q, want 200 %q", path, status, body, want)
		}
	}
}

// TestReadyzWithoutStore checks that /readyz answers 503 unavailable once
// the store is closed, while /healthz still answers.
func TestReadyzWithoutStore(t *testing.T) {
	w := newWorld(t, 0)
	c := w.anyClient()
	w.Store.Close()
	status, _, body := get(t, c, w.URL+"/readyz")
	if status != http.StatusServiceUnavailable || code(t, []byte(body)) != api.CodeUnavailable {
		t.Fatalf("GET /readyz with the store closed: %d %q", status, body)
	}
	if status, _, body := get(t, c, w.URL+"/healthz"); status != http.StatusOK {
		t.Fatalf("GET /healthz: %d %q", status, body)
	}
}
