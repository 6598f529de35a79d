package demo

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// filesContaining returns the files under dir whose bytes contain marker.
func filesContaining(t *testing.T, dir, marker string) (found []string, total int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		total++
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, []byte(marker)) {
			found = append(found, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found, total
}

// TestDemoRelayDiskHoldsNoPlaintext runs the demo with a unique marker in
// the subject, the body and the attachment, then scans every file under
// the relay's data folder for it. As a check of the check, the marker must
// be found in the recipient's archive.
func TestDemoRelayDiskHoldsNoPlaintext(t *testing.T) {
	dir := t.TempDir()
	const marker = "MARKER-c0ffee-5ea1ed"
	rep, err := Run(context.Background(), Options{
		Dir:        dir,
		Subject:    "subject " + marker,
		Body:       "body " + marker,
		Attachment: samplePDF("attachment " + marker),
	})
	if err != nil {
		t.Fatalf("demo failed: %v (%+v)", err, rep)
	}
	if !rep.OK() || len(rep.Timeline) != 4 || rep.PostToDeliveredMS <= 0 {
		t.Fatalf("demo report incomplete: %+v", rep)
	}
	found, total := filesContaining(t, rep.RelayDir, marker)
	if total == 0 {
		t.Fatal("no files under the relay's data folder")
	}
	if len(found) > 0 {
		t.Fatalf("plaintext marker found on the relay's disk: %v", found)
	}
	found, _ = filesContaining(t, filepath.Join(dir, "tehran"), marker)
	var body, attachment, records bool
	for _, f := range found {
		body = body || filepath.Base(f) == "body.txt"
		attachment = attachment || filepath.Base(f) == "proposal.pdf"
		records = records || strings.HasPrefix(filepath.Base(f), "records.db")
	}
	if !body || !attachment || !records {
		t.Fatalf("marker should be in tehran's body, attachment and records, found in %v", found)
	}
}

func TestDemoRefusesNonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o600)
	if _, err := Run(context.Background(), Options{Dir: dir}); err == nil {
		t.Fatal("demo ran in a folder that was not empty")
	}
}
