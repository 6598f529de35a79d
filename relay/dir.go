package relay

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/internal/tlspin"
)

// Files in a relay's data folder.
const (
	fileDescriptor = "relay.json"   // public: handed to parties
	fileKeys       = "keys.pem"     // receipt signing, admin and log keys
	fileTLSCert    = "tls-cert.pem" // self-signed certificate
	fileTLSKey     = "tls-key.pem"
	dirStore       = "jetstream"
)

// Dir is a relay's data folder with its keys loaded.
type Dir struct {
	Path       string
	Descriptor api.Descriptor
	ReceiptKey ed25519.PrivateKey // signs posted receipts
	AdminKey   ed25519.PrivateKey // the operator's tools authenticate with it
	LogKey     ed25519.PrivateKey // signs the log's checkpoints (as a note key)
	TLS        tls.Certificate
}

// StoreDir is where the relay keeps its JetStream data.
func (d *Dir) StoreDir() string { return filepath.Join(d.Path, dirStore) }

// TLSCertFile is the relay's self-signed certificate (PEM), which clients
// that verify it by a CA file, such as Prometheus, take as their CA.
func (d *Dir) TLSCertFile() string { return filepath.Join(d.Path, fileTLSCert) }

// Init creates a relay's data folder: a receipt-signing key, an admin key,
// a self-signed TLS certificate for hosts, and the public descriptor with
// the URLs parties reach the relay at, one per node of a cluster (may be
// empty). It refuses to overwrite an existing relay.
func Init(path, name string, urls []string, hosts []string) (*Dir, error) {
	if err := identity.CheckName("relay", name); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(path, fileKeys)); err == nil {
		return nil, fmt.Errorf("a relay already exists in %s", path)
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create relay folder: %w", err)
	}
	_, rk, _ := ed25519.GenerateKey(nil)
	_, ak, _ := ed25519.GenerateKey(nil)
	_, lk, _ := ed25519.GenerateKey(nil)
	certPEM, keyPEM, err := selfSignedCert(name, hosts)
	if err != nil {
		return nil, err
	}
	keys := pem.EncodeToMemory(&pem.Block{Type: "BRIEF RELAY RECEIPT KEY", Bytes: rk.Seed()})
	keys = append(keys, pem.EncodeToMemory(&pem.Block{Type: "BRIEF RELAY ADMIN KEY", Bytes: ak.Seed()})...)
	keys = append(keys, pem.EncodeToMemory(&pem.Block{Type: "BRIEF RELAY LOG KEY", Bytes: lk.Seed()})...)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("failed to load new certificate: %w", err)
	}
	d := &Dir{Path: path, ReceiptKey: rk, AdminKey: ak, LogKey: lk, TLS: cert}
	var url string
	if len(urls) > 0 {
		url = urls[0]
	}
	if len(urls) < 2 {
		urls = nil // one node: URL says it all
	}
	d.Descriptor = api.Descriptor{Name: name, URL: url, URLs: urls, TLSSHA256: tlspin.CertSHA256(cert.Certificate[0]), ReceiptKey: identity.EncodePublicKey(rk.Public().(ed25519.PublicKey))}
	if d.Descriptor.LogOrigin, d.Descriptor.LogKey, err = logIdentity(name, lk); err != nil {
		return nil, err
	}
	desc, _ := json.MarshalIndent(d.Descriptor, "", "  ")
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{{fileTLSCert, certPEM, 0o644}, {fileTLSKey, keyPEM, 0o600}, {fileDescriptor, append(desc, '\n'), 0o644}, {fileKeys, keys, 0o600}} {
		if err := writeFileSync(filepath.Join(path, f.name), f.data, f.mode); err != nil {
			return nil, fmt.Errorf("failed to write %s: %w", f.name, err)
		}
	}
	return d, nil
}

// Load opens a relay data folder made by Init.
func Load(path string) (*Dir, error) {
	keys, err := os.ReadFile(filepath.Join(path, fileKeys))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no relay in %s (run 'brief relay init' first)", path)
	} else if err != nil {
		return nil, fmt.Errorf("failed to read relay keys: %w", err)
	}
	d := &Dir{Path: path}
	for rest := keys; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if len(b.Bytes) != ed25519.SeedSize {
			return nil, errors.New("failed to read relay keys: bad key length")
		}
		switch b.Type {
		case "BRIEF RELAY RECEIPT KEY":
			d.ReceiptKey = ed25519.NewKeyFromSeed(b.Bytes)
		case "BRIEF RELAY ADMIN KEY":
			d.AdminKey = ed25519.NewKeyFromSeed(b.Bytes)
		case "BRIEF RELAY LOG KEY":
			d.LogKey = ed25519.NewKeyFromSeed(b.Bytes)
		}
	}
	if d.ReceiptKey == nil || d.AdminKey == nil || d.LogKey == nil {
		return nil, errors.New("failed to read relay keys: missing key")
	}
	if d.TLS, err = tls.LoadX509KeyPair(filepath.Join(path, fileTLSCert), filepath.Join(path, fileTLSKey)); err != nil {
		return nil, fmt.Errorf("failed to load relay certificate: %w", err)
	}
	desc, err := os.ReadFile(filepath.Join(path, fileDescriptor))
	if err != nil {
		return nil, fmt.Errorf("failed to read relay descriptor: %w", err)
	}
	if err := json.Unmarshal(desc, &d.Descriptor); err != nil {
		return nil, fmt.Errorf("failed to read relay descriptor: %w", err)
	}
	return d, nil
}

func selfSignedCert(name string, hosts []string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to generate TLS key: %w", err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "brieftraeger relay " + name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	tmpl.DNSNames, tmpl.IPAddresses = tlspin.SplitHosts(hosts)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to create TLS certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to encode TLS key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// writeFileSync writes a file and fsyncs it before returning.
func writeFileSync(name string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
