package client

import (
	"context"
	"testing"
)

// TestQueriesUseIndexes runs each question that brief watch or a send
// asks often. Each names the partial index that must serve it (INDEXED
// BY), and SQLite refuses a query that the index cannot serve, rather
// than read every letter: a query must state its index's condition in the
// same words, with the receipt bits as literals.
func TestQueriesUseIndexes(t *testing.T) {
	if hasDelivered != 4 || hasAcknowledged != 8 {
		t.Fatal("the partial indexes and their queries name the receipt bits 4 and 8")
	}
	p := recordsParty(t, t.TempDir())
	for name, ask := range map[string]func() error{
		"outbox":         func() error { _, err := p.Outbox(); return err },
		"queued":         func() error { _, err := p.queued("tehran"); return err },
		"queue head":     func() error { _, err := p.queueHead("tehran", 3); return err },
		"notices due":    func() error { return p.sealDueNotices("tehran") },
		"awaited":        func() error { _, err := p.awaitedLetters(); return err },
		"unacknowledged": func() error { _, err := p.UnacknowledgedLetters(nil); return err },
		"pending":        func() error { _, err := p.PendingLetters(nil); return err },
		"unsent":         func() error { _, err := p.RetryReceipts(context.Background()); return err },
	} {
		if err := ask(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
