package client

import (
	"context"
	"errors"
	"os"
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
