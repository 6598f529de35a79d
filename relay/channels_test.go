package relay_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/light"
)

// TestOperatorSeesTheLight checks the operator's view of a channel: the
// newest envelope each way, and the light they make.
func TestOperatorSeesTheLight(t *testing.T) {
	w := newWorld(t, 64<<10)
	ctx := context.Background()
	lightNow := func() string {
		t.Helper()
		list, err := w.Admin.Channels(ctx)
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
	if got := lightNow(); got != light.Green {
		t.Fatalf("after a letter each way: %s", got)
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
