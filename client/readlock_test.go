package client

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLockReading has a second holder of the reading lock told who holds
// it, and, when it chooses to wait, get it once the first lets go.
func TestLockReading(t *testing.T) {
	p := recordsParty(t, t.TempDir())
	os.MkdirAll(p.dir+"/locks", 0o700)
	ctx := context.Background()
	release, err := p.LockReading(ctx, "brief watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.LockReading(ctx, "brief read", nil)
	var busy *ReaderBusyError
	if !errors.As(err, &busy) || busy.PID != os.Getpid() || busy.Command != "brief watch" {
		t.Fatalf("second holder: %v", err)
	}
	asked := 0
	go func() { time.Sleep(200 * time.Millisecond); release() }()
	release2, err := p.LockReading(ctx, "brief read", func(*ReaderBusyError) bool { asked++; return true })
	if err != nil || asked != 1 {
		t.Fatalf("waiting for the lock: %v, asked %d times", err, asked)
	}
	release2()
}

// FuzzReadHolder reads any content of the reading lock's file as its
// holder: no panic, and a PID only when the file starts with a positive
// number that fits.
func FuzzReadHolder(f *testing.F) {
	for _, s := range []string{"123\tbrief watch\n", "", "\t", "abc\tx", "-1\tbrief read", "99999999999999999999\tx"} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content string) {
		path := dir + "/read"
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		h := readHolder(path)
		first, _, _ := strings.Cut(strings.TrimSpace(content), "\t")
		if n, err := strconv.Atoi(first); h.PID < 0 || h.PID != 0 && (err != nil || n != h.PID) {
			t.Fatalf("holder %+v from %q", h, content)
		}
	})
}
