package relay_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/internal/tlspin"
	"brieftraeger/letter"
)

// sealed is a hand-built envelope: a signed header and its ciphertext.
type sealed struct {
	h  *envelope.Header
	ct []byte
}

// seal seals a letter from p to "to" the way client.Send does, letting the
// test change the draft, the ciphertext and the header before signing.
func seal(t testing.TB, p *client.Party, ks *identity.Keystore, to string, body []byte, edit func(*envelope.Header, *[]byte)) sealed {
	t.Helper()
	ros, err := p.Contact("tehran")
	if err != nil {
		t.Fatal(err)
	}
	toEp, _ := ros.CurrentEpoch(time.Now())
	selfEp, _ := p.Roster().CurrentEpoch(time.Now())
	var buf bytes.Buffer
	lh, err := letter.Seal(&buf, &letter.Draft{From: p.Name(), Device: p.Device(), To: to, Seq: 1, Precedence: envelope.Routine,
		Subject: "test", Body: body}, ks.Sign, *toEp, *selfEp)
	if err != nil {
		t.Fatal(err)
	}
	ct := buf.Bytes()
	h := &envelope.Header{ID: lh.ID, From: lh.From, Device: lh.Device, To: to, Epoch: lh.Epoch, Precedence: lh.Precedence}
	if edit != nil {
		edit(h, &ct)
	}
	h.Size = uint64(len(ct))
	d := envelope.NewDigest()
	d.Write(ct)
	h.Digest = [32]byte(d.Sum(nil))
	if err := h.Sign(ks.Sign); err != nil {
		t.Fatal(err)
	}
	return sealed{h, ct}
}

func (s sealed) frame() []byte {
	var b bytes.Buffer
	envelope.WriteHeader(&b, s.h)
	b.Write(s.ct)
	return b.Bytes()
}

// post sends body to the relay as party/device with key; length -1 sends
// it chunked. It returns the status and the body of the answer.
func (w *world) post(key ed25519.PrivateKey, party, device string, body []byte, length int64) (int, []byte) {
	w.t.Helper()
	conf, err := tlspin.ClientTLSConfig(key, w.Dir.Descriptor.TLSSHA256)
	if err != nil {
		w.t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}, Timeout: 20 * time.Second}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, w.URL+api.PathEnvelopes, io.NopCloser(bytes.NewReader(body)))
	req.ContentLength = length
	req.Header.Set(api.HeaderParty, party)
	req.Header.Set(api.HeaderDevice, device)
	resp, err := c.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (w *world) postAs(ks *identity.Keystore, body []byte) (int, []byte) {
	return w.post(ks.Sign, ks.Party, ks.Device, body, int64(len(body)))
}

func code(t *testing.T, answer []byte) string {
	var e api.Error
	if err := json.Unmarshal(answer, &e); err != nil {
		t.Fatalf("answer is not an API error: %q", answer)
	}
	return e.Code
}

// assertNothingStored checks that the relay holds no envelope beyond want
// and that tehran's mailbox has no more than want letters.
func (w *world) assertNothingStored(want uint64) {
	w.t.Helper()
	if n := w.MailCount(); n != want {
		w.t.Fatalf("relay holds %d envelopes, want %d", n, want)
	}
	box, err := w.teh.Mailbox(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	if uint64(len(box)) != want {
		w.t.Fatalf("tehran's mailbox has %d letters, want %d", len(box), want)
	}
}

func TestPostIsIdempotent(t *testing.T) {
	w := newWorld(t, 64<<10)
	ks := w.Keys(w.wash)
	s := seal(t, w.wash, ks, "tehran", []byte("hello"), nil)
	st1, r1 := w.postAs(ks, s.frame())
	st2, r2 := w.postAs(ks, s.frame())
	if st1 != http.StatusCreated || st2 != http.StatusOK {
		t.Fatalf("statuses %d, %d; answers %q, %q", st1, st2, r1, r2)
	}
	if !bytes.Equal(r1, r2) {
		t.Fatal("reposting the same letter gave a different receipt")
	}
	rc, err := envelope.ParseReceipt(r1)
	if err != nil {
		t.Fatal(err)
	}
	relayKey, _ := identity.ParsePublicKey(w.Dir.Descriptor.ReceiptKey)
	if err := rc.Verify(relayKey); err != nil || rc.Kind != envelope.Posted || rc.Envelope != s.h.Hash() {
		t.Fatalf("bad posted receipt: %v %+v", err, rc)
	}
	w.assertNothingStored(1)
}

func TestRefusals(t *testing.T) {
	w := newWorld(t, 64<<10)
	ks := w.Keys(w.wash)
	mos := w.Keys(w.mos)
	_, stranger, _ := ed25519.GenerateKey(nil)
	valid := seal(t, w.wash, ks, "tehran", []byte("hello"), nil)
	cases := []struct {
		name   string
		status int
		code   string
		send   func() (int, []byte)
	}{
		{"malformed envelope", 400, api.CodeMalformed, func() (int, []byte) { return w.postAs(ks, []byte("\x00\x05hello, relay")) }},
		{"truncated ciphertext", 400, api.CodeMalformed, func() (int, []byte) {
			f := valid.frame()
			return w.postAs(ks, f[:len(f)-100])
		}},
		{"truncated ciphertext, chunked", 400, api.CodeMalformed, func() (int, []byte) {
			f := valid.frame()
			return w.post(ks.Sign, ks.Party, ks.Device, f[:len(f)-100], -1)
		}},
		{"ciphertext longer than declared, chunked", 400, api.CodeMalformed, func() (int, []byte) {
			return w.post(ks.Sign, ks.Party, ks.Device, append(valid.frame(), 0), -1)
		}},
		{"ciphertext that does not match its signed digest", 400, api.CodeMalformed, func() (int, []byte) {
			f := valid.frame()
			f[len(f)-10] ^= 1
			return w.postAs(ks, f)
		}},
		{"oversized envelope", 413, api.CodeTooLarge, func() (int, []byte) {
			return w.postAs(ks, seal(t, w.wash, ks, "tehran", bytes.Repeat([]byte("x"), 100<<10), nil).frame())
		}},
		{"unknown recipient party", 404, api.CodeUnknownParty, func() (int, []byte) {
			return w.postAs(ks, seal(t, w.wash, ks, "tehran", []byte("x"), func(h *envelope.Header, _ *[]byte) { h.To = "nobody" }).frame())
		}},
		{"no open channel", 403, api.CodeNoChannel, func() (int, []byte) {
			return w.postAs(mos, seal(t, w.mos, mos, "tehran", []byte("x"), nil).frame())
		}},
		{"sender device not on its roster", 403, api.CodeNotOnRoster, func() (int, []byte) {
			return w.post(stranger, ks.Party, ks.Device, valid.frame(), int64(len(valid.frame())))
		}},
		{"envelope from another party than the connection", 403, api.CodeForbidden, func() (int, []byte) {
			return w.postAs(mos, valid.frame())
		}},
		{"bad signature", 400, api.CodeBadSignature, func() (int, []byte) {
			f := valid.frame()
			f[2+len(valid.h.Raw)-1] ^= 1
			return w.postAs(ks, f)
		}},
		{"unknown epoch key", 400, api.CodeEpoch, func() (int, []byte) {
			return w.postAs(ks, seal(t, w.wash, ks, "tehran", []byte("x"), func(h *envelope.Header, _ *[]byte) { h.Epoch = 99 }).frame())
		}},
		{"expired epoch key", 400, api.CodeEpoch, func() (int, []byte) {
			w.SetNow(time.Now().Add(client.DefaultEpochLifetime + time.Hour))
			defer w.SetNow(time.Time{})
			return w.postAs(ks, valid.frame())
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, answer := c.send()
			if status != c.status || code(t, answer) != c.code {
				t.Fatalf("got %d %s, want %d %s", status, answer, c.status, c.code)
			}
			w.assertNothingStored(0)
		})
	}
}

func TestReplayWithDifferentContent(t *testing.T) {
	w := newWorld(t, 64<<10)
	ks := w.Keys(w.wash)
	first := seal(t, w.wash, ks, "tehran", []byte("first"), nil)
	if st, a := w.postAs(ks, first.frame()); st != http.StatusCreated {
		t.Fatalf("first post: %d %s", st, a)
	}
	second := seal(t, w.wash, ks, "tehran", []byte("second"), func(h *envelope.Header, _ *[]byte) { h.ID = first.h.ID })
	st, answer := w.postAs(ks, second.frame())
	if st != http.StatusConflict || code(t, answer) != api.CodeReplay {
		t.Fatalf("replay: got %d %s", st, answer)
	}
	w.assertNothingStored(1)
	got, err := w.Store.Lookup(context.Background(), first.h.ID.String())
	if err != nil || !bytes.Equal(got.Header, first.h.Raw) {
		t.Fatalf("the first letter was changed by the replay: %v", err)
	}
}

// TestTamperedCiphertextCaughtByRecipient posts an envelope whose
// ciphertext was altered before the sender's device signed its digest: the
// relay cannot tell, but the recipient's device refuses to open it, archives
// nothing and sends no delivered receipt.
// TestRepostAfterEpochExpiry checks that a client retrying a post whose
// answer it lost gets its original receipt even after the recipient's epoch
// key expired.
func TestRepostAfterEpochExpiry(t *testing.T) {
	w := newWorld(t, 64<<10)
	ks := w.Keys(w.wash)
	s := seal(t, w.wash, ks, "tehran", []byte("hello"), nil)
	st, first := w.postAs(ks, s.frame())
	if st != http.StatusCreated {
		t.Fatalf("post: %d %s", st, first)
	}
	w.SetNow(time.Now().Add(client.DefaultEpochLifetime + time.Hour))
	defer w.SetNow(time.Time{})
	st, again := w.postAs(ks, s.frame())
	if st != http.StatusOK || !bytes.Equal(first, again) {
		t.Fatalf("repost after expiry: %d %s", st, again)
	}
}

func TestTamperedCiphertextCaughtByRecipient(t *testing.T) {
	w := newWorld(t, 64<<10)
	ks := w.Keys(w.wash)
	s := seal(t, w.wash, ks, "tehran", []byte("hello"), func(_ *envelope.Header, ct *[]byte) { (*ct)[len(*ct)/2] ^= 1 })
	if st, a := w.postAs(ks, s.frame()); st != http.StatusCreated {
		t.Fatalf("post: %d %s", st, a)
	}
	ctx := context.Background()
	id := s.h.ID.String()
	if _, err := w.teh.Receive(ctx, id); err == nil {
		t.Fatal("tehran opened a tampered letter")
	}
	if _, err := w.teh.Letter(id); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("tampered letter was archived: %v", err)
	}
	pending, err := w.Store.Pending(ctx, "tehran")
	if err != nil || len(pending) != 1 {
		t.Fatalf("the letter should still wait undelivered: %v %d", err, len(pending))
	}
	rcs, err := w.Store.Receipts(ctx, "washington", 0)
	if err != nil || len(rcs) != 0 {
		t.Fatalf("a receipt was filed for a tampered letter: %v %d", err, len(rcs))
	}
}

// TestAcknowledgedNeedsDelivered checks that the relay files an
// acknowledged receipt only after the delivered one.
func TestAcknowledgedNeedsDelivered(t *testing.T) {
	w := newWorld(t, 64<<10)
	ks, tk := w.Keys(w.wash), w.Keys(w.teh)
	s := seal(t, w.wash, ks, "tehran", []byte("hello"), nil)
	if st, a := w.postAs(ks, s.frame()); st != http.StatusCreated {
		t.Fatalf("post: %d %s", st, a)
	}
	receipt := func(kind envelope.Kind) []byte {
		rc := envelope.Receipt{Kind: kind, ID: s.h.ID, Envelope: s.h.Hash(), Party: "tehran", Signer: tk.Device, Time: time.Now()}
		if err := rc.Sign(tk.Sign); err != nil {
			t.Fatal(err)
		}
		return rc.Raw
	}
	fileReceipt := func(raw []byte) (int, []byte) {
		conf, _ := tlspin.ClientTLSConfig(tk.Sign, w.Dir.Descriptor.TLSSHA256)
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}
		defer c.CloseIdleConnections()
		req, _ := http.NewRequest(http.MethodPost, w.URL+api.PathReceipts, bytes.NewReader(raw))
		req.Header.Set(api.HeaderParty, tk.Party)
		req.Header.Set(api.HeaderDevice, tk.Device)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	if st, a := fileReceipt(receipt(envelope.Acknowledged)); st != http.StatusConflict || code(t, a) != api.CodeConflict {
		t.Fatalf("acknowledged before delivered: %d %s", st, a)
	}
	if rcs, _ := w.Store.Receipts(context.Background(), "washington", 0); len(rcs) != 0 {
		t.Fatalf("a receipt was filed: %d", len(rcs))
	}
	for _, k := range []envelope.Kind{envelope.Delivered, envelope.Acknowledged} {
		if st, a := fileReceipt(receipt(k)); st != http.StatusCreated {
			t.Fatalf("%s: %d %s", k, st, a)
		}
	}
}
