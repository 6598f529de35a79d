package relay_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/light"
	"brieftraeger/internal/tlspin"
	"brieftraeger/relay"
)

// TestOperatorSeesTheLight checks the operator's view of a channel: the
// newest envelope each way, and the light they make.
func TestOperatorSeesTheLight(t *testing.T) {
	w := newWorld(t, 64<<10)
	ctx := context.Background()
	lightNow := func() string {
		t.Helper()
		list, err := w.Admin.Channels(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			if c.A == "tehran" && c.B == "washington" {
				return c.Light
			}
		}
		t.Fatalf("channel missing from %+v", list)
		return ""
	}
	if got := lightNow(); got != light.Red {
		t.Fatalf("before any letter: %s", got)
	}
	for _, pair := range [][2]*client.Party{{w.wash, w.teh}, {w.teh, w.wash}} {
		if _, _, err := pair[0].Send(ctx, client.Outgoing{To: pair[1].Name(), Subject: "s", Precedence: envelope.Routine, Body: []byte("b")}); err != nil {
			t.Fatal(err)
		}
	}
	// The light follows the log, which takes the letters in within a round.
	for deadline := time.Now().Add(10 * time.Second); lightNow() != light.Green; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after a letter each way: %s", lightNow())
		}
	}
	// Another relay on the same store, as another node of a cluster or this
	// one after a restart would be, shows the same light.
	if list, err := secondRelay(t, w).Channels(ctx, 0); err != nil || len(list) == 0 || list[0].Light != light.Green {
		t.Fatalf("from a second relay: %v %+v", err, list)
	}
	// The metrics show one letter waiting for each party, and when each
	// direction last carried one.
	m, err := w.Admin.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`brief_mailbox_pending{party="tehran"} 1`, `brief_mailbox_pending{party="washington"} 1`,
		`brief_channel_last_letter_timestamp_seconds{from="tehran",to="washington"} `} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	w.SetNow(time.Now().Add(2 * time.Minute))
	if got := lightNow(); got != light.Amber {
		t.Fatalf("two minutes later: %s", got)
	}
	w.SetNow(time.Now().Add(4 * time.Minute))
	if got := lightNow(); got != light.Red {
		t.Fatalf("four minutes later: %s", got)
	}
}

// secondRelay starts another relay on w's store, with w's keys and clock,
// and returns an operator's client of it.
func secondRelay(t *testing.T, w *world) *client.Admin {
	t.Helper()
	rl, err := relay.New(relay.Config{Name: "swiss", ReceiptKey: w.Dir.ReceiptKey, AdminKey: w.Dir.AdminKey.Public().(ed25519.PublicKey),
		LogKey: w.Dir.LogKey, Store: w.Store, Now: w.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(rl.Handler())
	srv.TLS = tlspin.ServerTLSConfig(w.Dir.TLS)
	srv.StartTLS()
	t.Cleanup(func() { srv.Close(); rl.Close() })
	admin, err := client.NewAdmin(w.Dir.Descriptor, srv.URL, w.Dir.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	return admin
}

// TestOperatorSeesOverdueLetters posts two FLASH letters and a ROUTINE
// one that nobody receives: past FLASH's deadline (10 minutes) the FLASH
// letters are overdue, past ROUTINE's (6 hours) all are, and a delivered
// letter is not.
func TestOperatorSeesOverdueLetters(t *testing.T) {
	w := newWorld(t, 64<<10)
	ctx := context.Background()
	send := func(p envelope.Precedence) string {
		t.Helper()
		s, _, err := w.wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "s", Precedence: p, Body: []byte("b")})
		if err != nil {
			t.Fatal(err)
		}
		return s.ID
	}
	posted := time.Now()
	flash := send(envelope.Flash)
	send(envelope.Flash)
	send(envelope.Routine)
	overdue := func(at time.Duration, want ...string) {
		t.Helper()
		w.SetNow(posted.Add(at))
		list, err := w.Admin.Overdue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		total := 0
		for _, o := range list {
			if o.From != "washington" || o.To != "tehran" || !o.OldestDue.Before(w.Now()) || o.OldestPostedAt.Before(posted.Add(-time.Second)) {
				t.Errorf("overdue row %+v", o)
			}
			got = append(got, fmt.Sprintf("%s %d", o.Precedence, o.Count))
			total += o.Count
		}
		if !slices.Equal(got, want) {
			t.Fatalf("at +%v: overdue %v, want %v", at, got, want)
		}
		chans, err := w.Admin.Channels(ctx, 0)
		if err != nil || len(chans) != 1 || chans[0].A != "tehran" || chans[0].OverdueBA != total || chans[0].OverdueAB != 0 {
			t.Fatalf("at +%v: channels %v %+v", at, err, chans)
		}
	}
	overdue(0)
	overdue(11*time.Minute, "FLASH 2")
	overdue(7*time.Hour, "FLASH 2", "ROUTINE 1")
	if _, err := w.teh.Receive(ctx, flash); err != nil {
		t.Fatal(err)
	}
	overdue(7*time.Hour, "FLASH 1", "ROUTINE 1")
}
