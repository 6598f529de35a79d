package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"brieftraeger/internal/testrelay"
)

// runBrief runs brief with args in process and returns its exit code,
// stdout and stderr.
func runBrief(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
	code := run(context.Background(), e, args)
	return code, stdout.String(), stderr.String()
}

// TestAdminCertScrapesMetrics exports the admin certificate of a running
// relay and scrapes /metrics with it as Prometheus does: a plain Go client
// that verifies the relay's certificate against tls-cert.pem as its CA
// file, by the relay's server name.
func TestAdminCertScrapesMetrics(t *testing.T) {
	w := testrelay.Start(t, testrelay.Options{})
	prefix := filepath.Join(t.TempDir(), "prometheus")
	code, stdout, stderr := runBrief("relay", "admin-cert", "--dir", w.Dir.Path, "--out", prefix, "--json")
	if code != 0 {
		t.Fatalf("relay admin-cert: exit %d\n%s", code, stderr)
	}
	var res adminCert
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if res.CertFile != prefix+"-cert.pem" || res.KeyFile != prefix+"-key.pem" || res.CAFile != w.Dir.TLSCertFile() ||
		!slices.Contains(res.ServerNames, "127.0.0.1") || res.NotAfter.Before(time.Now().AddDate(0, 11, 0)) {
		t.Fatalf("--json output: %+v", res)
	}
	for _, f := range []string{res.CertFile, res.KeyFile} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v", f, err, fi.Mode())
		}
	}

	pair, err := tls.LoadX509KeyPair(res.CertFile, res.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(res.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		t.Fatal("tls-cert.pem holds no certificate")
	}
	scrape := func(certs []tls.Certificate) (*http.Response, error) {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: roots, Certificates: certs, ServerName: res.ServerNames[0],
		}}}
		defer c.CloseIdleConnections()
		resp, err := c.Get(w.URL + "/metrics")
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	}
	resp, err := scrape([]tls.Certificate{pair})
	if err != nil {
		t.Fatalf("scrape with the exported certificate: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") ||
		!bytes.Contains(body, []byte("# TYPE brief_letters_posted_total counter\n")) {
		t.Fatalf("scrape: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if _, err := scrape(nil); err == nil {
		t.Fatal("a scrape without a client certificate was answered")
	}

	code, _, stderr = runBrief("relay", "admin-cert", "--dir", w.Dir.Path, "--out", prefix)
	if code == 0 || !strings.Contains(stderr, "brief: ") || !strings.Contains(stderr, "already exists") {
		t.Fatalf("admin-cert over existing files: exit %d\n%s", code, stderr)
	}
	if again, err := tls.LoadX509KeyPair(res.CertFile, res.KeyFile); err != nil || !bytes.Equal(again.Certificate[0], pair.Certificate[0]) {
		t.Fatalf("the existing files were changed: %v", err)
	}
}
