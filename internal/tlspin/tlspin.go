// Package tlspin holds the TLS 1.3 configurations of relay and clients:
// relays serve a self-signed certificate that clients pin by SHA-256, and
// clients present self-signed certificates for their Ed25519 keys.
package tlspin

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// SplitHosts sorts host names from IP addresses for a certificate.
func SplitHosts(hosts []string) (dns []string, ips []net.IP) {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, h)
		}
	}
	return dns, ips
}

// ServerTLSConfig returns the relay's TLS 1.3 configuration: it serves cert
// and requires every client to present a certificate, whose key the
// handlers check against rosters or the admin key.
func ServerTLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAnyClientCert,
	}
}

// ClientTLSConfig returns the TLS 1.3 configuration with which a device or
// the operator's tools talk to a relay: the client certificate is
// self-signed for key, and the relay's certificate must have the pinned
// SHA-256 (hex). No certificate authority is trusted.
func ClientTLSConfig(key ed25519.PrivateKey, pinnedSHA256 string) (*tls.Config, error) {
	cert, err := ClientCertificate(key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true, // replaced by the pin check below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || CertSHA256(raw[0]) != pinnedSHA256 {
				return errors.New("relay certificate does not match the pinned fingerprint")
			}
			return nil
		},
	}, nil
}

// ClientCertificate makes a short-lived self-signed certificate for an
// Ed25519 key, which the relay reads the key from.
func ClientCertificate(key ed25519.PrivateKey) (tls.Certificate, error) {
	now := time.Now()
	return ClientCertificateValid(key, now.Add(-time.Hour), now.Add(24*time.Hour))
}

// ClientCertificateValid is ClientCertificate valid from notBefore to
// notAfter: for a certificate handed to another program, such as the
// admin certificate a Prometheus server scrapes /metrics with.
func ClientCertificateValid(key ed25519.PrivateKey, notBefore, notAfter time.Time) (tls.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("failed to create client certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// PeerKey returns the Ed25519 key of the client certificate, if any.
func PeerKey(state *tls.ConnectionState) (ed25519.PublicKey, bool) {
	if state == nil || len(state.PeerCertificates) == 0 {
		return nil, false
	}
	k, ok := state.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	return k, ok
}

// CertSHA256 returns the hex SHA-256 of a DER certificate, the value that
// clients pin.
func CertSHA256(der []byte) string {
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:])
}
