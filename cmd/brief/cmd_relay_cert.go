package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"brieftraeger/internal/tlspin"
	"brieftraeger/relay"
)

// adminCert is what 'brief relay admin-cert --json' prints.
type adminCert struct {
	CertFile    string    `json:"cert_file"`
	KeyFile     string    `json:"key_file"`
	CAFile      string    `json:"ca_file"`      // the relay's own certificate, to verify it by
	ServerNames []string  `json:"server_names"` // the names and addresses in it, one for server_name
	NotAfter    time.Time `json:"not_after"`
}

// relayAdminCert writes a client certificate and key for the relay's admin
// key, for a Prometheus server to scrape /metrics with.
func relayAdminCert(_ context.Context, e *env, args []string) error {
	fs := flags(e, "relay admin-cert", "relay admin-cert --dir DIR --out PREFIX [--valid DURATION] [--json]")
	dir := fs.String("dir", "", "the relay's data `folder`")
	out := fs.String("out", "", "write `PREFIX`-cert.pem and PREFIX-key.pem (mode 0600; never overwritten)")
	valid := fs.Duration("valid", 365*24*time.Hour, "how long the certificate is valid")
	asJSON := fs.Bool("json", false, "print the files written as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *out == "" || fs.NArg() > 0 {
		return usagef("brief relay admin-cert --dir DIR --out PREFIX", "relay admin-cert needs --dir and --out and no arguments")
	}
	if *valid <= 0 {
		return usagef("", "--valid must be positive")
	}
	if err := outsideSource("the admin key's folder", filepath.Dir(*out)); err != nil {
		return err
	}
	d, err := relay.Load(*dir)
	if err != nil {
		return err
	}
	now := time.Now()
	cert, err := tlspin.ClientCertificateValid(d.AdminKey, now.Add(-time.Hour), now.Add(*valid))
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(d.AdminKey)
	if err != nil {
		return fmt.Errorf("failed to encode the admin key: %w", err)
	}
	res := adminCert{CertFile: *out + "-cert.pem", KeyFile: *out + "-key.pem", CAFile: d.TLSCertFile(), NotAfter: now.Add(*valid).UTC().Truncate(time.Second)}
	if res.ServerNames, err = serverNames(d); err != nil {
		return err
	}
	err = writeNew(map[string][]byte{
		res.CertFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
		res.KeyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	})
	if err != nil {
		return err
	}
	for _, p := range []*string{&res.CertFile, &res.KeyFile, &res.CAFile} {
		if abs, err := filepath.Abs(*p); err == nil {
			*p = abs
		}
	}
	if *asJSON {
		return printJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "wrote %s and %s: a client certificate for the relay's admin key, valid until %s\n",
		res.CertFile, res.KeyFile, res.NotAfter.Format(time.DateOnly))
	fmt.Fprintf(e.stdout, "scrape /metrics with tls_config: ca_file %s, cert_file and key_file these, server_name one of %q\n",
		res.CAFile, res.ServerNames)
	fmt.Fprintln(e.stderr, "brief: hint: the key is the relay's admin key, which can also admit parties and open channels; keep it as secret as keys.pem")
	return nil
}

// serverNames returns the host names and addresses in the relay's TLS
// certificate: a client that verifies it must name one of them.
func serverNames(d *relay.Dir) ([]string, error) {
	c, err := x509.ParseCertificate(d.TLS.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("failed to read the relay certificate: %w", err)
	}
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return names, nil
}

// writeNew writes each file with mode 0600 and refuses to overwrite any:
// if one exists, none is written.
func writeNew(files map[string][]byte) error {
	for name := range files {
		if _, err := os.Lstat(name); err == nil {
			return usagef("choose another --out, or remove the old files first", "%s already exists", name)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("failed to check %s: %w", name, err)
		}
	}
	var written []string
	for name, data := range files {
		if err := writeExclusive(name, data); err != nil {
			for _, w := range written {
				os.Remove(w)
			}
			return err
		}
		written = append(written, name)
	}
	return nil
}

// writeExclusive creates name (mode 0600), which must not exist, with data.
func writeExclusive(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("failed to create %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(name)
		return fmt.Errorf("failed to write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("failed to write %s: %w", name, err)
	}
	return nil
}
