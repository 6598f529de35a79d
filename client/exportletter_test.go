package client_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/letter"
)

// stockAge builds the age CLI of the age module this module depends on
// and returns its path.
func stockAge(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "age")
	if out, err := exec.Command("go", "build", "-o", path, "filippo.io/age/cmd/age").CombinedOutput(); err != nil {
		t.Fatalf("go build filippo.io/age/cmd/age: %v: %s", err, out)
	}
	return path
}

// receivedForExport sends a letter with an attachment from washington to
// tehran, has tehran open and acknowledge it, and waits until the relay
// has logged its records.
func receivedForExport(t *testing.T) (*client.Party, *client.Party, *client.Received, client.Outgoing) {
	t.Helper()
	_, wash, teh := pair(t)
	ctx := context.Background()
	annex := bytes.Repeat([]byte("annex line\n"), 9000) // more than one STREAM chunk
	o := client.Outgoing{To: "tehran", Subject: "for the record", Precedence: envelope.Flash, Body: []byte("MARKER-BODY-export\nsecond line\n"),
		Attachments: []letter.Attachment{{Name: "annex.txt", MediaType: "text/plain", Size: int64(len(annex)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(annex)), nil }}}}
	sent, _, err := wash.Send(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := teh.Receive(ctx, sent.ID); err != nil {
		t.Fatal(err)
	}
	rec, err := teh.Ack(ctx, sent.ID)
	if err != nil {
		t.Fatal(err)
	}
	o.Attachments[0].Open = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(annex)), nil }
	return wash, teh, rec, o
}

// exportLogged exports letter id, retrying until the relay has logged
// every record.
func exportLogged(t *testing.T, p *client.Party, id, out string) *client.Exported {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		os.RemoveAll(out)
		ex, err := p.Export(context.Background(), id, out)
		if err != nil {
			t.Fatal(err)
		}
		logged := true
		for _, r := range ex.Log {
			logged = logged && r.Logged
		}
		if logged {
			return ex
		}
		if time.Now().After(deadline) {
			t.Fatalf("records not logged: %+v", ex.Log)
		}
	}
}

// TestExportOpensWithStockAge checks that an exported letter opens with
// the stock age CLI and the epoch key from ExportEpochKey, and that what
// it prints is the letter's plaintext as docs/PROTOCOL.md lays it out:
// magic, header, the parts as sent, the trailer, zero padding.
func TestExportOpensWithStockAge(t *testing.T) {
	wash, teh, rec, o := receivedForExport(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "export")
	ex := exportLogged(t, teh, rec.ID, out)
	eh, err := envelope.Parse(rec.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Epoch != eh.Epoch || ex.Direction != "received" {
		t.Fatalf("export says epoch %d, %s; the envelope is sealed to %d", ex.Epoch, ex.Direction, eh.Epoch)
	}
	for _, f := range []string{"letter.age", "envelope.bin", "receipts/delivered.bin", "receipts/acknowledged.bin", "log/envelope.json", "log/delivered.json", "log/acknowledged.json", "summary.txt"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("export lacks %s: %v", f, err)
		}
	}
	if raw, _ := os.ReadFile(filepath.Join(out, "envelope.bin")); !bytes.Equal(raw, rec.Envelope) {
		t.Errorf("envelope.bin is not the signed envelope header")
	}
	if s, _ := os.ReadFile(filepath.Join(out, "summary.txt")); !strings.Contains(string(s), `subject:    "for the record"`) || !strings.Contains(string(s), "delivered") {
		t.Errorf("summary.txt:\n%s", s)
	}

	if _, err := teh.Export(context.Background(), rec.ID, out); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("export into a folder that is not empty: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("export left %d entries beside it", len(entries)-1)
	}
	key := filepath.Join(dir, "epoch.key")
	if err := teh.ExportEpochKey(eh.Epoch, key, ""); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(key); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", st.Mode())
	}
	ageCmd := stockAge(t)
	cmd := exec.Command(ageCmd, "-d", "-i", key, filepath.Join(out, "letter.age"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	plain, err := cmd.Output()
	if err != nil {
		t.Fatalf("age -d: %v: %s", err, stderr.Bytes())
	}
	checkPlaintext(t, plain, teh.LetterDir(rec.ID), rec, o)

	// The sender exports its own copy, which its own epoch key opens.
	if _, err := wash.CollectReceipts(context.Background()); err != nil {
		t.Fatal(err)
	}
	sentOut := filepath.Join(dir, "sent-export")
	sx := exportLogged(t, wash, rec.ID, sentOut)
	if sx.Direction != "sent" || len(sx.Receipts) != 3 || sx.Receipts[0].Record != "posted" || sx.Epoch == 0 {
		t.Fatalf("sender's export: %+v", sx)
	}
	if a, b := readFile(t, filepath.Join(out, "letter.age")), readFile(t, filepath.Join(sentOut, "letter.age")); !bytes.Equal(a, b) {
		t.Fatal("the sender's and the recipient's letter.age differ")
	}
	washKey := filepath.Join(dir, "wash.key")
	if err := wash.ExportEpochKey(sx.Epoch, washKey, ""); err != nil {
		t.Fatal(err)
	}
	if plain2, err := exec.Command(ageCmd, "-d", "-i", washKey, filepath.Join(sentOut, "letter.age")).Output(); err != nil || !bytes.Equal(plain2, plain) {
		t.Fatalf("the sender's key: %v", err)
	}

	// A sealed copy changed on disk is refused: it no longer matches the
	// signed envelope.
	kept := filepath.Join(teh.LetterDir(rec.ID), "letter.age")
	bad := readFile(t, kept)
	bad[len(bad)/2] ^= 1
	os.WriteFile(kept, bad, 0o600)
	if _, err := teh.Export(context.Background(), rec.ID, filepath.Join(dir, "bad")); err == nil || !strings.Contains(err.Error(), "does not match the envelope") {
		t.Errorf("export of a changed sealed copy: %v", err)
	}

	// A letter opened before brief kept the sealed copy cannot be
	// exported, and nothing is written.
	os.Remove(filepath.Join(teh.LetterDir(rec.ID), "letter.age"))
	if _, err := teh.Export(context.Background(), rec.ID, filepath.Join(dir, "old")); !errors.Is(err, client.ErrNoSealedCopy) {
		t.Errorf("export without a sealed copy: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "old")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed export left its folder: %v", err)
	}

	// A flipped byte anywhere in letter.age, header or payload, and age
	// refuses it.
	sealed, _ := os.ReadFile(filepath.Join(out, "letter.age"))
	for _, at := range []int{100, len(sealed) / 2, len(sealed) - 1} {
		bad := bytes.Clone(sealed)
		bad[at] ^= 1
		tampered := filepath.Join(dir, "tampered.age")
		os.WriteFile(tampered, bad, 0o600)
		if got, err := exec.Command(ageCmd, "-d", "-i", key, tampered).Output(); err == nil {
			t.Errorf("age opened letter.age with byte %d flipped (%d bytes out)", at, len(got))
		}
	}
}

// checkPlaintext checks plain against docs/PROTOCOL.md's "Letter
// plaintext" for the letter rec, archived in dir, sent as o.
func checkPlaintext(t *testing.T, plain []byte, dir string, rec *client.Received, o client.Outgoing) {
	t.Helper()
	r := bytes.NewReader(plain)
	magic := make([]byte, len(letter.Magic))
	io.ReadFull(r, magic)
	var l uint32
	binary.Read(r, binary.BigEndian, &l)
	header := make([]byte, l)
	io.ReadFull(r, header)
	if string(magic) != letter.Magic || !bytes.Equal(header, rec.Header) {
		t.Fatalf("plaintext starts %q, header of %d bytes; want the magic and the archived letter header", magic, l)
	}
	parts := [][]byte{o.Body}
	for _, a := range o.Attachments {
		rc, _ := a.Open()
		b, _ := io.ReadAll(rc)
		parts = append(parts, b)
	}
	n := len(magic) + 4 + int(l)
	for i, want := range parts {
		got := make([]byte, len(want))
		io.ReadFull(r, got)
		if !bytes.Equal(got, want) {
			t.Fatalf("part %d differs from what was sent", i)
		}
		n += len(want)
	}
	// The letter also carries the sender's view of the log, a part the
	// person did not attach: compare the rest with the archive.
	for _, part := range rec.Parts[len(parts):] {
		want, err := os.ReadFile(filepath.Join(dir, part.Path))
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(want))
		io.ReadFull(r, got)
		if !bytes.Equal(got, want) {
			t.Fatalf("part %q differs from the archived one", part.Name)
		}
		n += len(want)
	}
	trailer := make([]byte, len(rec.Trailer))
	io.ReadFull(r, trailer)
	if !bytes.Equal(trailer, rec.Trailer) {
		t.Fatal("trailer differs from the archived one")
	}
	n += len(trailer)
	rest, _ := io.ReadAll(r)
	if int64(n+len(rest)) != envelope.PaddedSize(int64(n)) || bytes.ContainsFunc(rest, func(r rune) bool { return r != 0 }) {
		t.Fatalf("padding: %d bytes after %d, want %d zero bytes", len(rest), n, envelope.PaddedSize(int64(n))-int64(n))
	}
}

// TestExportEpochKeyProtected checks that the passphrase-protected key
// file is an age file that opens with the passphrase, and only with it, to
// the same identity as the plain one; and that neither overwrites a file.
func TestExportEpochKeyProtected(t *testing.T) {
	_, wash, _ := pair(t)
	dir := t.TempDir()
	plain, sealed := filepath.Join(dir, "plain.key"), filepath.Join(dir, "sealed.key")
	if err := wash.ExportEpochKey(1, plain, ""); err != nil {
		t.Fatal(err)
	}
	if err := wash.ExportEpochKey(1, sealed, "hunter2 hunter2"); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(plain)
	want, err := age.ParseIdentities(f)
	f.Close()
	if err != nil || len(want) != 1 {
		t.Fatalf("plain key file: %v, %d identities", err, len(want))
	}
	raw, _ := os.ReadFile(sealed)
	if !bytes.HasPrefix(raw, []byte("age-encryption.org/v1\n-> scrypt ")) || bytes.Contains(raw, []byte("AGE-SECRET-KEY")) {
		t.Fatalf("protected key file is not a scrypt age file:\n%.200s", raw)
	}
	open := func(pass string) (age.Identity, error) {
		id, err := age.NewScryptIdentity(pass)
		if err != nil {
			return nil, err
		}
		r, err := age.Decrypt(bytes.NewReader(raw), id)
		if err != nil {
			return nil, err
		}
		ids, err := age.ParseIdentities(r)
		if err != nil || len(ids) != 1 {
			return nil, errors.Join(err, errors.New("not one identity"))
		}
		return ids[0], nil
	}
	got, err := open("hunter2 hunter2")
	if err != nil {
		t.Fatal(err)
	}
	if got.(*age.HybridIdentity).String() != want[0].(*age.HybridIdentity).String() {
		t.Fatal("protected key file holds another identity than the plain one")
	}
	if _, err := open("hunter3 hunter3"); err == nil {
		t.Fatal("protected key file opened with a wrong passphrase")
	}
	if err := wash.ExportEpochKey(1, plain, ""); err == nil {
		t.Fatal("an existing key file was overwritten")
	}
	if after, _ := os.ReadFile(sealed); wash.ExportEpochKey(1, sealed, "x") == nil || !bytes.Equal(after, raw) {
		t.Fatal("an existing protected key file was overwritten")
	}
	if err := wash.ExportEpochKey(7, filepath.Join(dir, "none.key"), ""); err == nil || !strings.Contains(err.Error(), "holds no epoch key 7") {
		t.Fatalf("an epoch not held: %v", err)
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
