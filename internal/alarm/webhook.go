package alarm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// WebhookOptions configure a Webhook. The zero value gives the defaults
// written next to each field.
type WebhookOptions struct {
	// Client makes the requests; nil is a client that trusts the system's
	// roots and follows no redirects.
	Client *http.Client
	// Timeout bounds each attempt; 0 is 10 seconds.
	Timeout time.Duration
	// Attempts is how often an event is tried; 0 is 4.
	Attempts int
	// Backoff is the wait after the first failed attempt, doubled after
	// each further one; 0 is 1 second.
	Backoff time.Duration
	// QueueSize bounds the events waiting; 0 is 64. When it is full, the
	// oldest event is dropped.
	QueueSize int
	// Sleep waits d or until ctx is done; nil waits on a real timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Report is told of events dropped or not delivered; nil ignores them.
	Report func(error)
}

// shutdownGrace bounds how long Run tries, once it is stopped, to deliver
// the events still queued.
const shutdownGrace = 5 * time.Second

// Webhook POSTs events as JSON to a URL, one at a time, from a bounded
// queue: Send never blocks, and Run delivers, retrying with backoff.
type Webhook struct {
	url  string
	o    WebhookOptions
	mu   sync.Mutex
	q    []Event
	wake chan struct{}
}

// NewWebhook returns a webhook for rawURL, which must be https, or http to
// a loopback address (CheckURL).
func NewWebhook(rawURL string, o WebhookOptions) (*Webhook, error) {
	if err := CheckURL(rawURL); err != nil {
		return nil, err
	}
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 4
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 64
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Report == nil {
		o.Report = func(error) {}
	}
	return &Webhook{url: rawURL, o: o, wake: make(chan struct{}, 1)}, nil
}

// CheckURL accepts an https URL, and an http URL only if its host is a
// loopback address (127.0.0.0/8, ::1 or localhost): alarms name parties
// and channels, and must not cross a network in the clear.
func CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("invalid webhook URL: %w", err)
	}
	if u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("webhook URL %q is not an http(s) URL with a host", rawURL)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return fmt.Errorf("webhook URL %q is plain http to %s, which is not a loopback address", rawURL, u.Hostname())
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send queues an event and returns at once. If the queue is full, the
// oldest event is dropped and reported.
func (w *Webhook) Send(ev Event) {
	w.mu.Lock()
	var dropped *Event
	if len(w.q) >= w.o.QueueSize {
		d := w.q[0]
		dropped, w.q = &d, w.q[1:]
	}
	w.q = append(w.q, ev)
	w.mu.Unlock()
	if dropped != nil {
		w.o.Report(fmt.Errorf("webhook queue full: dropped the oldest alarm (%s on %s at %s)",
			dropped.Kind, dropped.Channel, dropped.Time.Format(time.RFC3339)))
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Queued returns how many events wait.
func (w *Webhook) Queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.q)
}

func (w *Webhook) pop() (Event, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.q) == 0 {
		return Event{}, false
	}
	ev := w.q[0]
	w.q = w.q[1:]
	return ev, true
}

// Run delivers the queued events until ctx is done. Then it tries each
// event still queued once more, for 5 seconds in all, and reports those
// it could not deliver.
func (w *Webhook) Run(ctx context.Context) {
	for {
		for ev, ok := w.pop(); ok; ev, ok = w.pop() {
			if err := w.deliver(ctx, ev); err != nil {
				if ctx.Err() != nil {
					w.requeue(ev)
					break
				}
				w.o.Report(err)
			}
		}
		select {
		case <-ctx.Done():
			w.drain(ctx)
			return
		case <-w.wake:
		}
	}
}

// requeue puts an event back at the front of the queue.
func (w *Webhook) requeue(ev Event) {
	w.mu.Lock()
	w.q = append([]Event{ev}, w.q...)
	w.mu.Unlock()
}

// drain makes one last attempt at each queued event.
func (w *Webhook) drain(ctx context.Context) {
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	for ev, ok := w.pop(); ok; ev, ok = w.pop() {
		if err := w.post(gctx, ev); err != nil {
			w.o.Report(fmt.Errorf("alarm %s on %s not delivered to the webhook before stopping: %w", ev.Kind, ev.Channel, err))
		}
	}
}

// deliver posts an event, retrying with backoff while the failure may pass
// (no answer, 429 or 5xx).
func (w *Webhook) deliver(ctx context.Context, ev Event) error {
	wait := w.o.Backoff
	var err error
	for attempt := 1; ; attempt++ {
		err = w.post(ctx, ev)
		var perm *permanentError
		if err == nil || errors.As(err, &perm) || attempt == w.o.Attempts {
			break
		}
		if w.o.Sleep(ctx, wait) != nil {
			break
		}
		wait *= 2
	}
	if err != nil {
		return fmt.Errorf("failed to deliver alarm %s on %s to the webhook: %w", ev.Kind, ev.Channel, err)
	}
	return nil
}

// permanentError is an answer that a retry would not change.
type permanentError struct{ status string }

func (e *permanentError) Error() string { return "webhook answered " + e.status }

// post makes one attempt.
func (w *Webhook) post(ctx context.Context, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "brief-watch")
	resp, err := w.o.Client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return &permanentError{status: resp.Status}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
