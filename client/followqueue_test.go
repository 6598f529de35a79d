package client

import (
	"context"
	"fmt"
	"testing"

	"brieftraeger/internal/api"
)

// TestFollowQueueOrder queues letters as a listing and events would: each
// is handed out once, FLASH before ROUTINE, in the relay's order within a
// precedence, and an unknown precedence last.
func TestFollowQueueOrder(t *testing.T) {
	q := &followQueue{wake: make(chan struct{}, 1), seen: map[string]bool{}}
	q.push(api.MailboxEntry{ID: "r2", Precedence: "ROUTINE", Seq: 2}, api.MailboxEntry{ID: "r1", Precedence: "ROUTINE", Seq: 1},
		api.MailboxEntry{ID: "x", Precedence: "BOGUS", Seq: 0})
	q.push(api.MailboxEntry{ID: "f", Precedence: "FLASH", Seq: 3}, api.MailboxEntry{ID: "r1", Precedence: "ROUTINE", Seq: 1})
	var got []string
	for !q.empty() {
		m, ok := q.pop(context.Background())
		if !ok {
			t.Fatal("pop failed with letters queued")
		}
		got = append(got, m.ID)
	}
	if want := "f r1 r2 x"; fmt.Sprint(got) != "["+want+"]" {
		t.Fatalf("order %v, want %s", got, want)
	}
	q.push(api.MailboxEntry{ID: "f", Precedence: "FLASH", Seq: 3})
	if !q.empty() {
		t.Fatal("a letter handed out was queued again")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	q.push(api.MailboxEntry{ID: "late", Precedence: "FLASH", Seq: 4})
	if m, ok := q.pop(ctx); ok {
		t.Fatalf("pop handed out %s after its context ended", m.ID)
	}
}
