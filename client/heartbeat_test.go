package client_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/internal/api"
	"brieftraeger/internal/testrelay"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// pairAt is pair with both parties on a fake clock that starts now.
func pairAt(t *testing.T) (*fakeClock, *client.Party, *client.Party) {
	_, wash, teh := pair(t)
	clock := &fakeClock{t: time.Now()}
	reload := func(p *client.Party) *client.Party {
		q, err := client.Load(p.Dir(), testrelay.Passphrase, client.Options{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(q.Close)
		return q
	}
	return clock, reload(wash), reload(teh)
}

// TestHeartbeatLights sends heartbeats both ways and checks the light of
// the channel as the clock moves: green, then amber past one interval
// (with its slack), then red past three.
func TestHeartbeatLights(t *testing.T) {
	clock, wash, teh := pairAt(t)
	ctx := context.Background()
	const interval = time.Minute

	st, err := wash.Status(ctx, interval)
	if err != nil || len(st) != 1 || st[0].Channel != "tehran" || st[0].Light != client.Red {
		t.Fatalf("before any heartbeat: %v %+v", err, st)
	}

	toTeh, err := wash.SendHeartbeat(ctx, "tehran", interval)
	if err != nil {
		t.Fatal(err)
	}
	if toTeh.Subject != client.HeartbeatSubject || toTeh.Precedence != "IMMEDIATE" {
		t.Fatalf("heartbeat letter %+v", toTeh)
	}
	toWash, err := teh.SendHeartbeat(ctx, "washington", interval)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(35 * time.Millisecond)
	for _, c := range []struct {
		p    *client.Party
		id   string
		from string
	}{{teh, toTeh.ID, "washington"}, {wash, toWash.ID, "tehran"}} {
		rec, err := c.p.Receive(ctx, c.id)
		if err != nil {
			t.Fatal(err)
		}
		hb, err := c.p.NoteHeartbeat(rec)
		if err != nil || hb == nil || hb.Interval() != interval || rec.From != c.from {
			t.Fatalf("heartbeat from %s: %v %+v", c.from, err, hb)
		}
	}
	for _, p := range []*client.Party{wash, teh} {
		if _, err := p.CollectReceipts(ctx); err != nil {
			t.Fatal(err)
		}
	}

	st, err = wash.Status(ctx, 0) // the interval recorded with the heartbeat
	if err != nil || len(st) != 1 {
		t.Fatalf("status: %v %+v", err, st)
	}
	s := st[0]
	if s.Light != client.Green || s.Interval != interval || s.RTTMillis == nil || *s.RTTMillis < 30 || *s.RTTMillis > 40 {
		t.Fatalf("after heartbeats each way: %+v (rtt %v)", s, s.RTTMillis)
	}
	if s.LastSent == nil || s.LastSent.ID != toTeh.ID || s.LastReceived == nil || s.LastReceived.ID != toWash.ID {
		t.Fatalf("last heartbeats: %+v", s)
	}
	if st, _ := teh.Status(ctx, interval); len(st) != 1 || st[0].Channel != "washington" || st[0].Light != client.Green {
		t.Fatalf("tehran's view: %+v", st)
	}

	// A non-heartbeat letter is not recorded as one.
	plain, _, err := teh.Send(ctx, client.Outgoing{To: "washington", Subject: "s", Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := wash.Receive(ctx, plain.ID)
	if err != nil {
		t.Fatal(err)
	}
	if hb, err := wash.NoteHeartbeat(rec); hb != nil || err != nil {
		t.Fatalf("plain letter taken for a heartbeat: %+v %v", hb, err)
	}

	for _, step := range []struct {
		advance time.Duration
		want    string
	}{{interval, client.Green}, {interval, client.Amber}, {interval, client.Red}} {
		clock.Advance(step.advance)
		st, err := wash.Status(ctx, interval)
		if err != nil || st[0].Light != step.want {
			t.Fatalf("at +%v: %v %+v, want %s", clock.Now().Sub(toTeh.SealedAt), err, st, step.want)
		}
	}
}

// TestStatusRelayDown checks that a channel is red when the relay cannot
// be reached, whatever its heartbeats.
func TestStatusRelayDown(t *testing.T) {
	_, wash, _ := pair(t)
	ctx := context.Background()
	if _, err := wash.SendHeartbeat(ctx, "tehran", time.Minute); err != nil {
		t.Fatal(err)
	}
	// The same folder, pointed at an address where no relay listens.
	name := filepath.Join(wash.Dir(), "relay.json")
	var d api.Descriptor
	if b, err := os.ReadFile(name); err != nil || json.Unmarshal(b, &d) != nil {
		t.Fatal(err)
	}
	d.URL = "https://127.0.0.1:1"
	b, _ := json.Marshal(d)
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
	down, err := client.Load(wash.Dir(), testrelay.Passphrase, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	st, err := down.Status(ctx, time.Minute)
	if err != nil || len(st) != 1 || st[0].Light != client.Red || st[0].RelayError == "" {
		t.Fatalf("relay unreachable: %v %+v", err, st)
	}
}

// TestHeartbeatIntervalsDiffer has washington beat every 10 minutes and
// tehran every minute. Tehran judges washington's heartbeats by the 10
// minutes they announce, so five minutes of silence from washington is
// still green for it; a heartbeat announcing a year counts as a day.
func TestHeartbeatIntervalsDiffer(t *testing.T) {
	clock, wash, teh := pairAt(t)
	ctx := context.Background()
	beat := func(from, to *client.Party, every time.Duration) {
		t.Helper()
		sent, err := from.SendHeartbeat(ctx, to.Name(), every)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := to.Receive(ctx, sent.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := from.CollectReceipts(ctx); err != nil {
			t.Fatal(err)
		}
	}
	light := func() string {
		t.Helper()
		st, err := teh.Status(ctx, time.Minute)
		if err != nil || len(st) != 1 {
			t.Fatalf("status: %v %+v", err, st)
		}
		return st[0].Light
	}
	for _, step := range []struct {
		announce time.Duration // washington's heartbeat, if any
		advance  time.Duration // then the clock moves, and tehran beats
		want     string
	}{
		{10 * time.Minute, 5 * time.Minute, client.Green},
		{0, 14 * time.Minute, client.Amber}, // 19 minutes after one announcing 10
		{365 * 24 * time.Hour, 25 * time.Hour, client.Green},
		{0, 12 * time.Hour, client.Amber}, // 37 hours: a year counts as a day
	} {
		if step.announce > 0 {
			beat(wash, teh, step.announce)
		}
		clock.Advance(step.advance)
		beat(teh, wash, time.Minute)
		if l := light(); l != step.want {
			t.Fatalf("%v after washington announced %v: %s, want %s", step.advance, step.announce, l, step.want)
		}
	}
}
