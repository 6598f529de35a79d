package relay_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"brieftraeger/envelope"
	"brieftraeger/internal/api"
	"brieftraeger/relay"
	"brieftraeger/store"
)

// gatedReader gives the first half of data, says so on half, and gives
// the rest once gate is closed: a post that is in flight for as long as
// the test wants.
type gatedReader struct {
	data       []byte
	half, gate chan struct{}
	at         int
}

func (r *gatedReader) Read(p []byte) (int, error) {
	mid := len(r.data) / 2
	if r.at == mid {
		close(r.half)
		<-r.gate
	}
	end := len(r.data)
	if r.at < mid {
		end = mid
	}
	if r.at == len(r.data) {
		return 0, io.EOF
	}
	n := copy(p, r.data[r.at:end])
	r.at += n
	return n, nil
}

// TestShutdownFinishesInFlightPost starts a relay with Serve and posts an
// envelope whose second half is held back. The relay is told to stop
// while the post is in flight: it stops accepting connections, lets the
// post finish with its posted receipt, and only then returns; the letter
// is in the store.
func TestShutdownFinishesInFlightPost(t *testing.T) {
	w := newWorld(t, 64<<20)
	ks := w.Keys(w.wash)
	// Its first half, 12 MiB, is more than the sockets hold, so once the
	// client has written it the relay is reading the body: the post is in
	// its handler. (net/http drops a request whose header it reads after
	// shutdown began; the client then posts it again elsewhere.)
	env := seal(t, w.wash, ks, "tehran", bytes.Repeat([]byte("x"), 24<<20), nil).frame()
	hc := w.DeviceClient(t, ks)
	w.Stop() // the same relay folder and store, now under Serve

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	addr, served := make(chan string, 1), make(chan error, 1)
	go func() {
		served <- relay.Serve(ctx, w.Dir, relay.Options{Listen: "127.0.0.1:0", Ready: func(a string) { addr <- a }})
	}()
	var at string
	select {
	case at = <-addr:
	case err := <-served:
		t.Fatalf("Serve: %v", err)
	}

	body := &gatedReader{data: env, half: make(chan struct{}), gate: make(chan struct{})}
	posted := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, "https://"+at+api.PathEnvelopes, body)
		req.ContentLength = int64(len(env))
		req.Header.Set(api.HeaderParty, ks.Party)
		req.Header.Set(api.HeaderDevice, ks.Device)
		resp, err := hc.Do(req)
		if err != nil {
			t.Errorf("the post in flight failed: %v", err)
			posted <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		posted <- resp.StatusCode
	}()
	<-body.half
	stop()
	// Shutdown has begun once the listener is closed.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.Dial("tcp", at)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the relay still accepts connections after it was told to stop")
		}
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned with a post in flight: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(body.gate)
	if status := <-posted; status != http.StatusCreated {
		t.Fatalf("the post in flight was answered %d, want 201", status)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}

	st, err := store.Open(context.Background(), store.Config{Dir: w.Dir.StoreDir(), BodyHash: envelope.NewDigest})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.MailCount(context.Background()); err != nil || n != 1 {
		t.Fatalf("letters stored after the shutdown: %d, %v", n, err)
	}
}
