package relay_test

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/api"
	"brieftraeger/internal/tlspin"
	"brieftraeger/relay"
	"brieftraeger/store"
)

// world is a real relay (embedded JetStream, TLS on 127.0.0.1) with two
// admitted parties, washington and tehran, whose channel is open, and a
// third, admitted party, moscow, with no channel.
type world struct {
	t        testing.TB
	dir      *relay.Dir
	store    *store.Store
	url      string
	now      time.Time
	wash     *client.Party
	teh      *client.Party
	mos      *client.Party
	admin    *client.Admin
	maxBytes int64
}

func newWorld(t testing.TB, maxEnvelope int64) *world {
	t.Helper()
	base := t.TempDir()
	d, err := relay.Init(filepath.Join(base, "relay"), "swiss", "", []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), store.Config{Dir: d.StoreDir(), BodyHash: envelope.NewDigest})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, dir: d, store: st, now: time.Now(), maxBytes: maxEnvelope}
	rl, err := relay.New(relay.Config{Name: "swiss", ReceiptKey: d.ReceiptKey, AdminKey: d.AdminKey.Public().(ed25519.PublicKey),
		Store: st, MaxEnvelopeBytes: maxEnvelope, Now: func() time.Time { return w.now }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rl.Handler(), TLSConfig: tlspin.ServerTLSConfig(d.TLS)}
	go srv.Serve(tls.NewListener(ln, srv.TLSConfig))
	t.Cleanup(func() {
		rl.StopStreams()
		srv.Close()
		st.Close()
	})
	w.url = "https://" + ln.Addr().String()
	desc := d.Descriptor
	desc.URL = w.url
	if w.admin, err = client.NewAdmin(w.url, desc.TLSSHA256, d.AdminKey); err != nil {
		t.Fatal(err)
	}
	w.wash = w.party(base, "washington", desc)
	w.teh = w.party(base, "tehran", desc)
	w.mos = w.party(base, "moscow", desc)
	ctx := context.Background()
	if err := w.admin.OpenChannel(ctx, "washington", "tehran"); err != nil {
		t.Fatal(err)
	}
	w.pin(w.wash, w.teh)
	w.pin(w.teh, w.wash)
	w.pin(w.mos, w.teh)
	return w
}

func (w *world) party(base, name string, desc api.Descriptor) *client.Party {
	w.t.Helper()
	p, err := client.Init(client.InitOptions{Dir: filepath.Join(base, name), Party: name, Device: "dev-" + name,
		Passphrase: "test", WorkFactor: 10, Relay: desc}, client.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(p.Close)
	if err := w.admin.Admit(context.Background(), name, p.Roster().Raw); err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *world) pin(p, other *client.Party) {
	w.t.Helper()
	if _, err := p.AddContact(context.Background(), other.Name(), other.Roster().Root); err != nil {
		w.t.Fatal(err)
	}
}

// mailCount returns the number of envelopes the relay holds.
func (w *world) mailCount() uint64 {
	w.t.Helper()
	n, err := w.store.MailCount(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}
