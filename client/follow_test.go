package client_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/api"
)

// TestFollowTakesFlashFirst has tehran follow a backlog of 60 ROUTINE
// letters, reading each as brief watch does. A FLASH posted while it
// reads the fifth is the next letter it reads, not the last. (The fifth
// is held until the FLASH is posted, and half a second more for its event.)
func TestFollowTakesFlashFirst(t *testing.T) {
	_, wash, teh := pair(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const backlog = 60
	for range backlog {
		if _, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "r", Precedence: envelope.Routine, Body: []byte("b")}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var order []string
	fifth, posted, all := make(chan struct{}), make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- teh.Follow(ctx, nil, func(m api.MailboxEntry) {
			if _, err := teh.ReceiveEvent(ctx, m); err != nil {
				t.Error(err)
			}
			mu.Lock()
			order = append(order, m.ID)
			n := len(order)
			mu.Unlock()
			switch n {
			case 5:
				close(fifth)
				<-posted
				time.Sleep(500 * time.Millisecond)
			case backlog + 1:
				close(all)
			}
		})
	}()
	select {
	case <-fifth:
	case <-time.After(30 * time.Second):
		t.Fatal("the backlog is not being read")
	}
	flash, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "f", Precedence: envelope.Flash, Body: []byte("b")})
	close(posted)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-all:
	case <-time.After(60 * time.Second):
		t.Fatal("not every letter was read")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Follow: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	at := -1
	for i, id := range order {
		if id == flash.ID {
			at = i
		}
	}
	if at < 5 || at > 6 {
		t.Fatalf("the FLASH was letter %d of %d", at+1, len(order))
	}
}
