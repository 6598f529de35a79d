package alarm

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"brieftraeger/client"
)

// receiver is an HTTP server on 127.0.0.1 that answers each POST with the
// next status of its script (200 when the script is used up) and passes
// the events it accepted on.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	script []int
	tries  int
	got    chan Event
}

func newReceiver(t *testing.T, script ...int) *receiver {
	r := &receiver{script: script, got: make(chan Event, 16)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var ev Event
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" || json.NewDecoder(req.Body).Decode(&ev) != nil {
			t.Errorf("bad request: %s %s", req.Method, req.Header.Get("Content-Type"))
		}
		r.mu.Lock()
		r.tries++
		code := http.StatusOK
		if len(r.script) > 0 {
			code, r.script = r.script[0], r.script[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(code)
		if code == http.StatusOK {
			r.got <- ev
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) next(t *testing.T) Event {
	t.Helper()
	select {
	case ev := <-r.got:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no POST within 10 s")
	}
	return Event{}
}

func (r *receiver) attempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tries
}

// errorLog collects what a webhook or hook reports.
type errorLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *errorLog) report(err error) {
	l.mu.Lock()
	l.msgs = append(l.msgs, err.Error())
	l.mu.Unlock()
}

func (l *errorLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.msgs, "\n")
}

// startWebhook runs a webhook to url with no real waits, until the test
// ends; it returns the webhook and the waits it was asked for.
func startWebhook(t *testing.T, url string, o WebhookOptions) (*Webhook, *[]time.Duration) {
	var mu sync.Mutex
	waits := &[]time.Duration{}
	o.Sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		*waits = append(*waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	w, err := NewWebhook(url, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return w, waits
}

// channel returns the status of the channel to tehran with a light.
func channel(light string, at time.Time) client.ChannelStatus {
	s := client.ChannelStatus{Channel: "tehran", Light: light, Interval: time.Minute}
	if light == client.Green {
		s.LastDelivered = &client.HeartbeatSent{SealedAt: at}
		s.LastReceived = &client.HeartbeatReceived{OpenedAt: at}
	}
	return s
}

// TestWebhookRedAndRecovery drives a tracker on a fake clock from red to
// green and checks that the webhook receives both changes, stamped with
// the clock, and nothing for a light that did not change.
func TestWebhookRedAndRecovery(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	r := newReceiver(t)
	w, _ := startWebhook(t, r.URL, WebhookOptions{})
	tr := &Tracker{Now: clock}
	h := &Hooks{Party: "washington", Device: "laptop", Webhook: w, Now: clock}
	raise := func(st ...client.ChannelStatus) {
		for _, ev := range tr.Status(st) {
			h.Raise(context.Background(), ev)
		}
	}

	raise(channel(client.Red, now))
	red := r.next(t)
	if red.Kind != KindLight || red.Light != client.Red || red.PreviousLight != "" || red.Channel != "tehran" ||
		red.Party != "washington" || red.Device != "laptop" || !red.Time.Equal(now) || red.ID == "" ||
		!strings.Contains(red.Reason, "no heartbeat to tehran delivered") {
		t.Fatalf("red: %+v", red)
	}
	now = now.Add(time.Minute)
	raise(channel(client.Green, now))
	green := r.next(t)
	if green.Light != client.Green || green.PreviousLight != client.Red || !green.Time.Equal(now) || green.ID == red.ID {
		t.Fatalf("recovery: %+v", green)
	}
	raise(channel(client.Green, now))
	select {
	case ev := <-r.got:
		t.Fatalf("event for an unchanged light: %+v", ev)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestFirstGreenIsQuiet checks that a channel first seen green raises
// nothing, while one first seen amber does.
func TestFirstGreenIsQuiet(t *testing.T) {
	r := newReceiver(t)
	w, _ := startWebhook(t, r.URL, WebhookOptions{})
	h := &Hooks{Webhook: w}
	h.Raise(context.Background(), Event{Kind: KindLight, Channel: "tehran", Light: client.Green})
	h.Raise(context.Background(), Event{Kind: KindLight, Channel: "tehran", Light: client.Amber})
	if ev := r.next(t); ev.Light != client.Amber || r.attempts() != 1 {
		t.Fatalf("got %+v after %d POSTs", ev, r.attempts())
	}
}

// TestWebhookRetries checks the backoff on answers that may pass, and
// that an answer that will not pass is not retried.
func TestWebhookRetries(t *testing.T) {
	for _, c := range []struct {
		name      string
		script    []int
		delivered bool
		waits     []time.Duration
	}{
		{"recovers", []int{503, 429}, true, []time.Duration{time.Second, 2 * time.Second}},
		{"gives up", []int{500, 500, 500, 500}, false, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}},
		{"refused", []int{404}, false, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newReceiver(t, c.script...)
			var log errorLog
			w, waits := startWebhook(t, r.URL, WebhookOptions{Report: log.report})
			w.Send(Event{Kind: KindOverdue, Channel: "tehran"})
			if c.delivered {
				r.next(t)
			} else {
				waitFor(t, func() bool { return strings.Contains(log.String(), "failed to deliver alarm overdue on tehran") })
			}
			if !slices.Equal(*waits, c.waits) || r.attempts() != len(c.waits)+1 {
				t.Fatalf("%d attempts, waits %v, want %v", r.attempts(), *waits, c.waits)
			}
		})
	}
}

// TestWebhookQueueDropsOldest fills a queue that nothing delivers: Send
// returns at once, and the oldest event is dropped and reported.
func TestWebhookQueueDropsOldest(t *testing.T) {
	r := newReceiver(t)
	var log errorLog
	w, err := NewWebhook(r.URL, WebhookOptions{QueueSize: 2, Report: log.report})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{"a", "b", "c"} {
		w.Send(Event{Kind: KindOverdue, Channel: ch})
	}
	if w.Queued() != 2 || !strings.Contains(log.String(), "dropped the oldest alarm (overdue on a") {
		t.Fatalf("queued %d, reported %q", w.Queued(), log.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	if a, b := r.next(t), r.next(t); a.Channel != "b" || b.Channel != "c" {
		t.Fatalf("delivered %q then %q", a.Channel, b.Channel)
	}
}

// TestWebhookDrainsOnStop checks that events queued when the watch stops
// are still tried.
func TestWebhookDrainsOnStop(t *testing.T) {
	r := newReceiver(t)
	w, err := NewWebhook(r.URL, WebhookOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Send(Event{Kind: KindLogInconsistent, Channel: "tehran"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w.Run(ctx)
	if ev := r.next(t); ev.Kind != KindLogInconsistent {
		t.Fatalf("drained %+v", ev)
	}
}

func TestCheckURL(t *testing.T) {
	for url, ok := range map[string]bool{
		"https://alerts.example.org/hook": true,
		"http://127.0.0.1:9000/hook":      true,
		"http://[::1]/hook":               true,
		"http://localhost:8080/":          true,
		"http://alerts.example.org/hook":  false,
		"http://10.0.0.1/hook":            false,
		"ftp://127.0.0.1/":                false,
		"https:///nohost":                 false,
		"127.0.0.1:9000":                  false,
	} {
		if err := CheckURL(url); (err == nil) != ok {
			t.Errorf("CheckURL(%q) = %v, want ok %v", url, err, ok)
		}
	}
}

// TestTrackerOnce checks that an overdue letter and a missing test letter
// each raise one event, however often they are seen.
func TestTrackerOnce(t *testing.T) {
	tr := &Tracker{}
	late := []client.Overdue{{ID: "l1", To: "tehran", Precedence: "FLASH"}}
	st := channel(client.Amber, time.Now())
	st.TestLetters = &client.TestLetterStatus{Missing: []client.TestLetterSent{{ID: "t1"}}}
	var kinds []string
	for range 2 {
		for _, ev := range append(tr.Overdue(late), tr.Status([]client.ChannelStatus{st})...) {
			kinds = append(kinds, ev.Kind+" "+ev.Letter)
		}
	}
	want := []string{"overdue l1", "light ", "test-letter-missing t1"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("events %q, want %q", kinds, want)
	}
}

// TestCommandHook checks the command's environment, and that the webhook
// and the command both get the event.
func TestCommandHook(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	r := newReceiver(t)
	w, _ := startWebhook(t, r.URL, WebhookOptions{})
	h := &Hooks{Command: `echo "$BRIEF_EVENT|$BRIEF_CHANNEL|$BRIEF_LIGHT|$BRIEF_LETTER|$BRIEF_REASON" >` + out, Webhook: w}
	h.Raise(context.Background(), Event{Kind: KindTestLetterMissing, Channel: "tehran", Letter: "t1", Reason: "gone"})
	b, err := os.ReadFile(out)
	if got := string(b); err != nil || got != "test-letter-missing|tehran|test-letter-missing|t1|gone\n" {
		t.Fatalf("hook wrote %q, %v", got, err)
	}
	if ev := r.next(t); ev.Letter != "t1" {
		t.Fatalf("webhook got %+v", ev)
	}
	var log errorLog
	(&Hooks{Command: "exit 3", Report: log.report}).Raise(context.Background(), Event{Kind: KindOverdue, Channel: "tehran"})
	if !strings.Contains(log.String(), "alarm hook for tehran (overdue): exit status 3") {
		t.Fatalf("failed hook reported as %q", log.String())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 10 s")
}

// TestTrackerQueued raises the outbox alarm for a FLASH or IMMEDIATE
// letter that waited more than a minute, once, and for no ROUTINE letter.
func TestTrackerQueued(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tr := &Tracker{Now: func() time.Time { return now }}
	waiting := []*client.SentLetter{
		{ID: "a", To: "tehran", Precedence: "FLASH", SealedAt: now.Add(-2 * time.Minute), Attempts: 5, PostError: "down"},
		{ID: "b", To: "tehran", Precedence: "IMMEDIATE", SealedAt: now.Add(-30 * time.Second)},
		{ID: "c", To: "tehran", Precedence: "ROUTINE", SealedAt: now.Add(-time.Hour)},
	}
	waiting = append(waiting, &client.SentLetter{ID: "h", To: "tehran", Kind: client.KindHeartbeat, Precedence: "IMMEDIATE", SealedAt: now.Add(-time.Hour)})
	evs := tr.Queued(waiting)
	if len(evs) != 1 || evs[0].Letter != "a" || evs[0].Kind != KindOutbox || !strings.Contains(evs[0].Reason, "after 5 attempts: down") {
		t.Fatalf("events: %+v", evs)
	}
	if evs := tr.Queued(waiting); len(evs) != 0 {
		t.Fatalf("raised again: %+v", evs)
	}
	now = now.Add(time.Minute)
	if evs := tr.Queued(waiting); len(evs) != 1 || evs[0].Letter != "b" {
		t.Fatalf("the IMMEDIATE letter after its minute: %+v", evs)
	}
}

// TestTrackerQuiet keeps a first light that is not green to itself until
// Quiet, and reports it after; a first green is reported (and then quiet
// by Raise) as before.
func TestTrackerQuiet(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tr := &Tracker{Now: func() time.Time { return now }, Quiet: now.Add(2 * time.Minute)}
	red := []client.ChannelStatus{{Channel: "tehran", Light: client.Red, Interval: time.Minute}}
	if evs := tr.Status(red); len(evs) != 0 {
		t.Fatalf("a red first light reported before Quiet: %+v", evs)
	}
	now = now.Add(3 * time.Minute)
	if evs := tr.Status(red); len(evs) != 1 || evs[0].Light != client.Red || evs[0].PreviousLight != "" {
		t.Fatalf("after Quiet: %+v", evs)
	}
}
