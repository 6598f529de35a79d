package client_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/testrelay"
)

// twoDevices starts a relay with washington, whose devices are
// dev-washington and terminal, and tehran, with a channel between them.
func twoDevices(t *testing.T) (w *testrelay.World, laptop, terminal, teh *client.Party) {
	w, laptop, teh = pair(t)
	terminal = w.AddDevice(laptop, "terminal")
	return w, laptop, terminal, teh
}

// wantNoGaps fails if p reports any letter missing.
func wantNoGaps(t *testing.T, p *client.Party) {
	t.Helper()
	if lines := gapLines(t, p); len(lines) != 0 {
		t.Fatalf("false gaps: %q", lines)
	}
}

// wantSeqs checks that the letters ids were numbered 1 to len(ids).
func wantSeqs(t *testing.T, p *client.Party, ids []string) {
	t.Helper()
	for i, id := range ids {
		if s, err := p.Sent(id); err != nil || s.Seq != uint64(i+1) {
			t.Fatalf("letter %d of %s: %v, seq %d", i+1, p.Device(), err, s.Seq)
		}
	}
}

// TestTwoDevicesInterleaved: two devices of washington each number their
// letters to tehran from 1; tehran opens them, taken in turns, without
// refusing any as a replay and without reporting a letter missing.
func TestTwoDevicesInterleaved(t *testing.T) {
	_, laptop, terminal, teh := twoDevices(t)
	var fromLaptop, fromTerminal []string
	for range 4 {
		fromLaptop = append(fromLaptop, sendN(t, laptop, "tehran", 1)...)
		fromTerminal = append(fromTerminal, sendN(t, terminal, "tehran", 1)...)
	}
	wantSeqs(t, laptop, fromLaptop)
	wantSeqs(t, terminal, fromTerminal)
	for i := range fromLaptop {
		for _, id := range []string{fromLaptop[i], fromTerminal[i]} {
			rec, err := teh.Receive(context.Background(), id)
			if err != nil {
				t.Fatalf("letter %d: %v", i+1, err)
			}
			if !rec.New || rec.Seq != uint64(i+1) {
				t.Fatalf("letter %s from %s: new %v, seq %d", id, rec.Device, rec.New, rec.Seq)
			}
		}
		wantNoGaps(t, teh)
	}
	for _, dev := range []string{"washington/dev-washington", "washington/terminal"} {
		wantGaps(t, teh, dev)
	}
}

// TestTwoDevicesConcurrent: both devices send at once, and tehran opens
// the letters as the relay lists them, then each again.
func TestTwoDevicesConcurrent(t *testing.T) {
	_, laptop, terminal, teh := twoDevices(t)
	const n = 6
	var wg sync.WaitGroup
	ids, errs := make([][]string, 2), make([]error, 2)
	for i, p := range []*client.Party{laptop, terminal} {
		wg.Go(func() {
			for range n {
				sent, _, err := p.Send(context.Background(), client.Outgoing{To: "tehran", Subject: "s", Precedence: envelope.Routine, Body: []byte("b")})
				if err != nil {
					errs[i] = err
					return
				}
				ids[i] = append(ids[i], sent.ID)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	box, err := teh.Mailbox(context.Background())
	if err != nil || len(box) != 2*n {
		t.Fatalf("mailbox: %v, %d letters, want %d", err, len(box), 2*n)
	}
	for _, m := range box {
		if _, err := teh.Receive(context.Background(), m.ID); err != nil {
			t.Fatal(err)
		}
	}
	receive(t, teh, slices.Concat(ids...)...)
	wantNoGaps(t, teh)
}

// TestTwoDevicesGapNamesDevice: the relay withholds a letter of terminal;
// the gap is reported for terminal, by terminal's number, and not for
// dev-washington, whose letters all came.
func TestTwoDevicesGapNamesDevice(t *testing.T) {
	_, laptop, terminal, teh := twoDevices(t)
	fromLaptop := sendN(t, laptop, "tehran", 3)
	fromTerminal := sendN(t, terminal, "tehran", 3)
	receive(t, teh, fromLaptop...)
	receive(t, teh, fromTerminal[0], fromTerminal[2])
	want := []string{"letter 2 from washington/terminal has not arrived; 3 has"}
	if got := gapLines(t, teh); !slices.Equal(got, want) {
		t.Fatalf("report %q, want %q", got, want)
	}
	gaps, err := teh.GapReport("washington")
	if err != nil || len(gaps) != 1 || gaps[0].Device != "terminal" || gaps[0].From != "washington" {
		t.Fatalf("gaps: %+v %v", gaps, err)
	}
	wantGaps(t, teh, "washington/terminal", 2)
	wantGaps(t, teh, "washington/dev-washington")
	receive(t, teh, fromTerminal[1])
	wantNoGaps(t, teh)
}

// TestReceiptsOfTheOtherDevice: the relay lists every receipt of the
// party's letters to each of its devices. A device sets none aside for the
// other device's letters, which that device records. (A receipt naming a
// letter no device of the party sent is still set aside: outage.txtar.)
func TestReceiptsOfTheOtherDevice(t *testing.T) {
	_, laptop, terminal, teh := twoDevices(t)
	ctx := context.Background()
	ids := sendN(t, terminal, "tehran", 2)
	for _, id := range ids {
		if _, err := teh.Receive(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	got, refused, err := laptop.CollectReceiptsAndRefusals(ctx)
	if err != nil || len(refused) != 0 || len(got) != 0 {
		t.Fatalf("laptop: %d receipts, set aside %+v, %v", len(got), refused, err)
	}
	got, refused, err = terminal.CollectReceiptsAndRefusals(ctx)
	if err != nil || len(refused) != 0 || len(got) != 2 {
		t.Fatalf("terminal: %d receipts, set aside %+v, %v", len(got), refused, err)
	}
}
