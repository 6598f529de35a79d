package tlspin

import (
	"crypto/ed25519"
	"crypto/tls"
	"strings"
	"testing"
)

// serve accepts one TLS connection with the server's config and reports
// the client key it saw.
func serve(t *testing.T, cert tls.Certificate) (string, <-chan ed25519.PublicKey) {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ServerTLSConfig(cert))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	keys := make(chan ed25519.PublicKey, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if tc.Handshake() == nil {
			st := tc.ConnectionState()
			k, _ := PeerKey(&st)
			keys <- k
		}
		close(keys)
	}()
	return ln.Addr().String(), keys
}

func serverCert(t *testing.T) tls.Certificate {
	_, key, _ := ed25519.GenerateKey(nil)
	cert, err := ClientCertificate(key) // any self-signed certificate will do for the server side here
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestPinnedConnection(t *testing.T) {
	srv := serverCert(t)
	addr, keys := serve(t, srv)
	pub, key, _ := ed25519.GenerateKey(nil)
	conf, err := ClientTLSConfig(key, CertSHA256(srv.Certificate[0]))
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		t.Fatalf("pinned connection failed: %v", err)
	}
	defer c.Close()
	if c.ConnectionState().Version != tls.VersionTLS13 {
		t.Fatal("not TLS 1.3")
	}
	if got := <-keys; !got.Equal(pub) {
		t.Fatal("server did not see the client's Ed25519 key")
	}
}

func TestWrongPinRefused(t *testing.T) {
	srv := serverCert(t)
	addr, _ := serve(t, srv)
	_, key, _ := ed25519.GenerateKey(nil)
	pin := []byte(CertSHA256(srv.Certificate[0]))
	pin[0] ^= 1
	conf, _ := ClientTLSConfig(key, string(pin))
	_, err := tls.Dial("tcp", addr, conf)
	if err == nil || !strings.Contains(err.Error(), "pinned fingerprint") {
		t.Fatalf("want a pin mismatch, got %v", err)
	}
}

func TestClientWithoutCertificateRefused(t *testing.T) {
	srv := serverCert(t)
	addr, keys := serve(t, srv)
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err == nil {
		// In TLS 1.3 the server's refusal arrives with the first read.
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if err == nil {
		t.Fatal("a client without a certificate was served")
	}
	if k, ok := <-keys; ok {
		t.Fatalf("server accepted key %x", k)
	}
}

func TestSplitHosts(t *testing.T) {
	dns, ips := SplitHosts([]string{"relay.example", "127.0.0.1", "::1"})
	if len(dns) != 1 || len(ips) != 2 {
		t.Fatalf("dns %v ips %v", dns, ips)
	}
}
