// Package testrelay starts a real relay for tests: embedded JetStream in a
// temporary folder, TLS 1.3 on 127.0.0.1, and parties admitted through the
// operator's API. It is imported only by tests.
package testrelay

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/internal/tlspin"
	"brieftraeger/relay"
	"brieftraeger/store"
)

// Passphrase seals every test party's keystore.
const Passphrase = "amber tunnel quiet walnut"

// World is a running relay and the parties admitted to it.
type World struct {
	T     testing.TB
	Base  string // temporary folder holding the relay and the parties
	Dir   *relay.Dir
	Store *store.Store
	Relay *relay.Relay
	URL   string
	Admin *client.Admin

	mu   sync.Mutex
	now  time.Time // zero: the real clock
	stop func()

	handler http.Handler
	tlsConf *tls.Config
	addr    string       // the address served, once known
	srv     *http.Server // nil while paused
}

// Pause stops serving HTTPS, as a relay that is down: connections are
// refused. The relay and its store keep running.
func (w *World) Pause() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.srv != nil {
		w.srv.Close()
		w.srv = nil
	}
}

// Resume serves HTTPS again, on the same address.
func (w *World) Resume() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.srv != nil {
		return
	}
	ln, err := net.Listen("tcp", w.addr)
	if err != nil {
		w.T.Fatal(err)
	}
	w.addr = ln.Addr().String()
	w.srv = &http.Server{Handler: w.handler, TLSConfig: w.tlsConf}
	go w.srv.Serve(tls.NewListener(ln, w.tlsConf))
}

// Stop stops the relay's HTTP server, the relay and its store, as the end
// of the test does; the store's folder stays for reopening.
func (w *World) Stop() { w.stop() }

// Options configures Start.
type Options struct {
	MaxEnvelopeBytes int64
	LogInterval      time.Duration // 0: the relay's default
	Store            store.Config  // Dir and BodyHash are filled in
	// Prefill, if not nil, runs on the store before the relay starts
	// (benchmarks use it to fill the log).
	Prefill func(*store.Store) error
	// Base, if set, is the folder for the relay and the parties instead of
	// a new temporary one (a small file system, say).
	Base string
	// MinFreeBytes is relay.Config.MinFreeBytes.
	MinFreeBytes int64
}

// Start starts a relay named "swiss" and stops it when the test ends.
func Start(t testing.TB, o Options) *World {
	t.Helper()
	w := &World{T: t, Base: o.Base}
	if w.Base == "" {
		w.Base = t.TempDir()
	}
	d, err := relay.Init(filepath.Join(w.Base, "relay"), "swiss", nil, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	w.Dir = d
	o.Store.Dir, o.Store.BodyHash = d.StoreDir(), envelope.NewDigest
	if w.Store, err = store.Open(context.Background(), o.Store); err != nil {
		t.Fatal(err)
	}
	if o.Prefill != nil {
		if err := o.Prefill(w.Store); err != nil {
			t.Fatal(err)
		}
	}
	rl, err := relay.New(relay.Config{Name: "swiss", ReceiptKey: d.ReceiptKey, AdminKey: d.AdminKey.Public().(ed25519.PublicKey), LogKey: d.LogKey,
		Store: w.Store, MaxEnvelopeBytes: o.MaxEnvelopeBytes, LogInterval: o.LogInterval, Now: w.Now, MinFreeBytes: o.MinFreeBytes})
	if err != nil {
		t.Fatal(err)
	}
	w.Relay = rl
	w.handler, w.tlsConf = rl.Handler(), tlspin.ServerTLSConfig(d.TLS)
	w.addr = "127.0.0.1:0"
	w.Resume()
	w.stop = sync.OnceFunc(func() {
		w.Pause()
		rl.Close()
		w.Store.Close()
	})
	t.Cleanup(w.Stop)
	w.URL = "https://" + w.addr
	if w.Admin, err = client.NewAdmin(d.Descriptor, w.URL, d.AdminKey); err != nil {
		t.Fatal(err)
	}
	return w
}

// Now is the relay's clock: the real time unless SetNow moved it.
func (w *World) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.now.IsZero() {
		return time.Now()
	}
	return w.now
}

// SetNow sets the relay's clock; the zero time restores the real clock.
func (w *World) SetNow(t time.Time) {
	w.mu.Lock()
	w.now = t
	w.mu.Unlock()
}

// Descriptor returns the relay descriptor with its URL.
func (w *World) Descriptor() api.Descriptor {
	d := w.Dir.Descriptor
	d.URL = w.URL
	return d
}

// Party creates a party with one device named "dev-NAME" and admits it.
func (w *World) Party(name string) *client.Party {
	w.T.Helper()
	p, err := client.Init(client.InitOptions{Dir: filepath.Join(w.Base, name), Party: name, Device: "dev-" + name,
		Passphrase: Passphrase, WorkFactor: 10, AllowWeakWorkFactor: true, Relay: w.Descriptor()}, client.Options{})
	if err != nil {
		w.T.Fatal(err)
	}
	w.T.Cleanup(p.Close)
	if err := w.Admin.Admit(context.Background(), name, p.Roster().Raw); err != nil {
		w.T.Fatal(err)
	}
	return p
}

// Connect opens the channel between a and b and pins each one's root key
// at the other.
func (w *World) Connect(a, b *client.Party) {
	w.T.Helper()
	ctx := context.Background()
	if err := w.Admin.OpenChannel(ctx, a.Name(), b.Name()); err != nil {
		w.T.Fatal(err)
	}
	w.Pin(a, b)
	w.Pin(b, a)
}

// Pin pins other's root key at p.
func (w *World) Pin(p, other *client.Party) {
	w.T.Helper()
	if _, err := p.AddContact(context.Background(), other.Name(), other.Roster().Root); err != nil {
		w.T.Fatal(err)
	}
}

// Keys opens a party's keystore from its folder, as its device does.
func (w *World) Keys(p *client.Party) *identity.Keystore {
	w.T.Helper()
	sealed, err := os.ReadFile(filepath.Join(p.Dir(), "keys.age"))
	if err != nil {
		w.T.Fatal(err)
	}
	ks, err := identity.OpenKeystore(sealed, Passphrase)
	if err != nil {
		w.T.Fatal(err)
	}
	return ks
}

// MailCount returns the number of envelopes the relay holds.
func (w *World) MailCount() uint64 {
	w.T.Helper()
	n, err := w.Store.MailCount(context.Background())
	if err != nil {
		w.T.Fatal(err)
	}
	return n
}

// SettleLog waits until st's log has taken in every record written so far
// (its size stays the same for three looks, 100 ms apart), and fails t if
// that takes more than a minute. Benchmarks call it so that a measurement
// does not pay for the log's work on what came before.
func SettleLog(t testing.TB, st *store.Store) {
	t.Helper()
	var last uint64
	for stable, deadline := 0, time.Now().Add(time.Minute); stable < 3; time.Sleep(100 * time.Millisecond) {
		n, err := st.LogSize(context.Background())
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("the log did not settle: %d leaves, %v", n, err)
		}
		if n == last {
			stable++
		} else {
			stable, last = 0, n
		}
	}
}
