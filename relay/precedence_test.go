package relay_test

import (
	"brieftraeger/internal/testrelay"
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"brieftraeger/client"
	"brieftraeger/envelope"
)

// TestFlashOvertakesBacklog fills tehran's mailbox with 10,000 ROUTINE
// letters, then posts one FLASH letter, and checks that tehran's device,
// reading its mailbox in order, gets the FLASH letter first.
func TestFlashOvertakesBacklog(t *testing.T) {
	if testing.Short() {
		t.Skip("posts 10,000 letters")
	}
	const backlog = 10_000
	w := newWorld(t, 64<<10)
	ks := w.Keys(w.wash)
	envs := testrelay.Envelopes(t, w.wash, ks, "tehran", backlog)
	c := w.DeviceClient(t, ks)
	defer c.CloseIdleConnections()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < backlog; i = next.Add(1) - 1 {
				if err := testrelay.PostFramed(c, w.URL, ks, envs[i]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	flash, _, err := w.wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "FLASH", Precedence: envelope.Flash, Body: []byte("now")})
	if err != nil {
		t.Fatal(err)
	}
	box, err := w.teh.Mailbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(box) != backlog+1 {
		t.Fatalf("mailbox holds %d letters, want %d", len(box), backlog+1)
	}
	if box[0].ID != flash.ID || box[0].Precedence != "FLASH" || box[1].Precedence != "ROUTINE" {
		t.Fatalf("first in the mailbox: %+v", box[0])
	}
	rec, err := w.teh.Receive(ctx, box[0].ID)
	if err != nil || rec.Subject != "FLASH" {
		t.Fatalf("reading the first letter: %v", err)
	}
	rcs, err := w.wash.CollectReceipts(ctx)
	if err != nil || len(rcs) != 1 || rcs[0].ID.String() != flash.ID || rcs[0].Kind != envelope.Delivered {
		t.Fatalf("the first delivered receipt is not the FLASH letter's: %v %+v", err, rcs)
	}
}
