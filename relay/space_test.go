package relay_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/api"
	"brieftraeger/relay"
	"brieftraeger/store"
)

// TestReserveRefusesNewLetters sets the reserve of free space above what
// the disk really has free: a new letter is refused with storage_full and
// stored nowhere, while the letter stored before is still reposted,
// fetched, opened and its delivered receipt filed.
func TestReserveRefusesNewLetters(t *testing.T) {
	w := newWorld(t, 0)
	ks := w.Keys(w.wash)
	before := seal(t, w.wash, ks, "tehran", []byte("stored before the disk filled"), nil)
	st, receipt := w.postAs(ks, before.frame())
	if st != http.StatusCreated {
		t.Fatalf("post before: %d %s", st, receipt)
	}

	relay.SetMinFreeBytes(w.Relay, 1<<62)
	after := seal(t, w.wash, ks, "tehran", []byte("posted on a full disk"), nil)
	st, answer := w.postAs(ks, after.frame())
	if st != http.StatusInsufficientStorage || code(t, answer) != api.CodeStorageFull {
		t.Fatalf("post on a full disk: got %d %s, want 507 %s", st, answer, api.CodeStorageFull)
	}
	w.assertNothingStored(1)
	if st, again := w.postAs(ks, before.frame()); st != http.StatusOK || !bytes.Equal(again, receipt) {
		t.Fatalf("repost of a stored letter on a full disk: %d %s", st, again)
	}

	ctx := context.Background()
	if _, err := w.teh.Receive(ctx, before.h.ID.String()); err != nil {
		t.Fatalf("delivery on a full disk: %v", err)
	}
	rcs, err := w.Store.Receipts(ctx, "washington", 0)
	if err != nil || len(rcs) != 1 {
		t.Fatalf("delivered receipt on a full disk: %v, %d receipts", err, len(rcs))
	}
	if rc, err := envelope.ParseReceipt(rcs[0].Receipt); err != nil || rc.Kind != envelope.Delivered || rc.ID != before.h.ID {
		t.Fatalf("the receipt filed is not the delivered one: %v %+v", err, rc)
	}

	c := w.clientWith(w.Dir.AdminKey)
	status, _, body := get(t, c, w.URL+"/readyz")
	if status != http.StatusOK || !strings.HasPrefix(body, "ready\n") || !strings.Contains(body, "storage full") {
		t.Fatalf("GET /readyz on a full disk: %d %q", status, body)
	}
	m := scrape(t, c, w.URL)
	if m["brief_store_reserve_bytes"] != 1<<62 || m["brief_store_free_bytes"] <= 0 || m["brief_store_free_bytes"] >= 1<<62 {
		t.Errorf("space metrics: free %v, reserve %v", m["brief_store_free_bytes"], m["brief_store_reserve_bytes"])
	}
	if m[`brief_refused_total{code="storage_full"}`] != 1 {
		t.Errorf(`brief_refused_total{code="storage_full"} = %v, want 1`, m[`brief_refused_total{code="storage_full"}`])
	}

	relay.SetMinFreeBytes(w.Relay, -1)
	if st, answer := w.postAs(ks, after.frame()); st != http.StatusCreated {
		t.Fatalf("post once space is back: %d %s", st, answer)
	}
}

// TestEngineUnavailable shuts JetStream down under a running relay, as
// nats-server itself does when it runs out of space in a cluster: posts
// get 503 unavailable with a Retry-After, /readyz fails and /healthz still
// answers.
func TestEngineUnavailable(t *testing.T) {
	w := newWorld(t, 0)
	ks := w.Keys(w.wash)
	ctx := context.Background()
	// A letter stored before the engine goes, and listed (so filed).
	before, _, err := w.wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "s", Precedence: envelope.Routine, Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	if box, err := w.teh.Mailbox(ctx); err != nil || len(box) != 1 {
		t.Fatalf("mailbox before: %v %+v", err, box)
	}
	s := seal(t, w.wash, ks, "tehran", []byte("hello"), nil)
	if err := w.Store.Server().ShutdownJetStream(); err != nil {
		t.Fatal(err)
	}
	conf := w.clientWith(ks.Sign)
	req, _ := http.NewRequest(http.MethodPost, w.URL+api.PathEnvelopes, bytes.NewReader(s.frame()))
	req.Header.Set(api.HeaderParty, ks.Party)
	req.Header.Set(api.HeaderDevice, ks.Device)
	resp, err := conf.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || code(t, answer) != api.CodeUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("post with jetstream down: %d %s (Retry-After %q)", resp.StatusCode, answer, resp.Header.Get("Retry-After"))
	}
	c := w.anyClient()
	if status, _, body := get(t, c, w.URL+"/readyz"); status != http.StatusServiceUnavailable || code(t, []byte(body)) != api.CodeUnavailable {
		t.Fatalf("GET /readyz with jetstream down: %d %q", status, body)
	}
	if status, _, body := get(t, c, w.URL+"/healthz"); status != http.StatusOK {
		t.Fatalf("GET /healthz: %d %q", status, body)
	}
	// Nothing was corrupted, and the refused post left nothing: the store
	// reopens with the one letter, still waiting for tehran.
	w.Stop()
	st, err := store.Open(ctx, store.Config{Dir: w.Dir.StoreDir(), BodyHash: envelope.NewDigest})
	if err != nil {
		t.Fatalf("reopening after the engine went: %v", err)
	}
	defer st.Close()
	if n, err := st.MailCount(ctx); err != nil || n != 1 {
		t.Fatalf("letters after reopening: %d %v", n, err)
	}
	if p, err := st.Pending(ctx, "tehran"); err != nil || len(p) != 1 || p[0].ID != before.ID {
		t.Fatalf("tehran's mailbox after reopening: %v %+v", err, p)
	}
}
