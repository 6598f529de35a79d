package store

import (
	"context"
	"testing"
)

// TestDurableByDefault checks that the zero Config makes JetStream fsync
// before every acknowledgement, and that only NoSync turns it off. A test
// that kills the relay process cannot tell: the page cache survives it.
func TestDurableByDefault(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		s, err := Open(context.Background(), Config{Dir: t.TempDir(), NoSync: noSync})
		if err != nil {
			t.Fatal(err)
		}
		got := s.ns.JetStreamConfig().SyncAlways
		s.Close()
		if got == noSync {
			t.Errorf("NoSync=%v: server SyncAlways=%v", noSync, got)
		}
	}
}
