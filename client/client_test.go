package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/identity"
	"brieftraeger/internal/testrelay"
	"brieftraeger/letter"
)

func pair(t *testing.T) (*testrelay.World, *client.Party, *client.Party) {
	w := testrelay.Start(t, testrelay.Options{})
	wash, teh := w.Party("washington"), w.Party("tehran")
	w.Connect(wash, teh)
	return w, wash, teh
}

func TestSendReceiveAck(t *testing.T) {
	_, wash, teh := pair(t)
	ctx := context.Background()
	sent, posted, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "s", Precedence: envelope.Priority, Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	if posted.Kind != envelope.Posted || sent.Seq != 1 {
		t.Fatalf("posted %+v, seq %d", posted, sent.Seq)
	}
	box, err := teh.Mailbox(ctx)
	if err != nil || len(box) != 1 || box[0].ID != sent.ID || box[0].Precedence != "PRIORITY" {
		t.Fatalf("mailbox: %v %+v", err, box)
	}
	rec, err := teh.Receive(ctx, sent.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Subject != "s" || rec.Seq != 1 || rec.From != "washington" {
		t.Fatalf("received %+v", rec)
	}
	if _, err := teh.Receive(ctx, sent.ID); err != nil {
		t.Fatalf("receiving again: %v", err)
	}
	if _, err := teh.Ack(ctx, sent.ID); err != nil {
		t.Fatal(err)
	}
	if box, _ := teh.Mailbox(ctx); len(box) != 0 {
		t.Fatalf("delivered letter still waits: %+v", box)
	}
	rcs, err := wash.CollectReceipts(ctx)
	if err != nil || len(rcs) != 2 || rcs[0].Kind != envelope.Delivered || rcs[1].Kind != envelope.Acknowledged {
		t.Fatalf("receipts: %v %+v", err, rcs)
	}
	again, _ := wash.CollectReceipts(ctx)
	if len(again) != 0 {
		t.Fatalf("receipts collected twice: %d", len(again))
	}
	s, _ := wash.Sent(sent.ID)
	if len(s.Receipts) != 3 {
		t.Fatalf("sent record has %d receipts", len(s.Receipts))
	}
	next, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "s2", Body: []byte("b")})
	if err != nil || next.Seq != 2 {
		t.Fatalf("second letter: %v seq %d", err, next.Seq)
	}
}

// TestForgedReceiptsRefused checks that a sender accepts a delivered or
// acknowledged receipt only if a device on the recipient's roster signed it
// for this very envelope.
func TestForgedReceiptsRefused(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	sent, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "s", Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	eh, _ := envelope.Parse(sent.Envelope)
	tk := w.Keys(teh)
	_, stranger, _ := ed25519.GenerateKey(nil)
	good := envelope.Receipt{Kind: envelope.Delivered, ID: eh.ID, Envelope: eh.Hash(), Party: "tehran", Signer: "dev-tehran", Time: time.Now()}
	cases := map[string]struct {
		edit func(*envelope.Receipt)
		key  ed25519.PrivateKey
	}{
		"signed by a key not on the roster": {func(*envelope.Receipt) {}, stranger},
		"signed by the relay":               {func(*envelope.Receipt) {}, w.Dir.ReceiptKey},
		"for another envelope":              {func(r *envelope.Receipt) { r.Envelope[0] ^= 1 }, tk.Sign},
		"by the sender's own party":         {func(r *envelope.Receipt) { r.Party = "washington" }, tk.Sign},
		"by an unknown device":              {func(r *envelope.Receipt) { r.Signer = "other" }, tk.Sign},
	}
	for name, c := range cases {
		rc := good
		c.edit(&rc)
		if err := rc.Sign(c.key); err != nil {
			t.Fatal(err)
		}
		if err := wash.VerifyReceipt(sent, &rc); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	rc := good
	rc.Sign(tk.Sign)
	if err := wash.VerifyReceipt(sent, &rc); err != nil {
		t.Fatalf("genuine receipt refused: %v", err)
	}
	for i := range rc.Raw {
		bad := bytes.Clone(rc.Raw)
		bad[i] ^= 1
		if p, err := envelope.ParseReceipt(bad); err == nil && wash.VerifyReceipt(sent, p) == nil {
			t.Fatalf("receipt with byte %d flipped accepted", i)
		}
	}
}

func TestReceiveWithoutEpochKey(t *testing.T) {
	_, wash, teh := pair(t)
	ctx := context.Background()
	sent, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "s", Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(teh.Dir(), "epochs", "1.age"))
	teh2, err := client.Load(teh.Dir(), testrelay.Passphrase, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer teh2.Close()
	_, err = teh2.Receive(ctx, sent.ID)
	if err == nil || !strings.Contains(err.Error(), "does not hold") {
		t.Fatalf("want a missing epoch key error, got %v", err)
	}
	if _, err := teh2.Letter(sent.ID); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("letter archived without its key: %v", err)
	}
}

func TestWrongPassphrase(t *testing.T) {
	_, _, teh := pair(t)
	if _, err := client.Load(teh.Dir(), "wrong", client.Options{}); !errors.Is(err, identity.ErrWrongPassphrase) {
		t.Fatalf("want ErrWrongPassphrase, got %v", err)
	}
}

// pattern is a reader of n bytes of a fixed pattern that holds nothing.
type pattern struct{ n, off int64 }

var block = bytes.Repeat([]byte("brieftraeger\n"), 5041) // 65533 bytes, not a power of two

func (p *pattern) Read(b []byte) (int, error) {
	if p.off == p.n {
		return 0, io.EOF
	}
	i := p.off % int64(len(block))
	k := copy(b, block[i:min(int64(len(block)), i+p.n-p.off)])
	p.off += int64(k)
	return k, nil
}

// TestLargeAttachmentStreams sends a 1 GiB attachment through send, the
// relay and read, and checks that the heap in use stays far below the
// attachment's size the whole time.
func TestLargeAttachmentStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 1 GiB through disk and TLS")
	}
	const size = 1 << 30
	const heapLimit = 192 << 20
	// The attachment is on disk three times at once: the spool, the
	// relay's object store and the recipient's archive.
	if free := freeDisk(t, os.TempDir()); free < 4*size {
		t.Skipf("needs 4 GiB free in %s, has %d MiB", os.TempDir(), free>>20)
	}
	_, wash, teh := pair(t)
	ctx := context.Background()
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	defer close(stop)
	sent, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "big", Body: []byte("see attachment"),
		Attachments: []letter.Attachment{{Name: "scan.bin", MediaType: "application/octet-stream", Size: size,
			Open: func() (io.ReadCloser, error) { return io.NopCloser(&pattern{n: size}), nil }}}})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := teh.Receive(ctx, sent.ID)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(teh.LetterDir(sent.ID), rec.Parts[1].Path))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if same, err := equalReaders(f, &pattern{n: size}); err != nil || !same {
		t.Fatalf("attachment differs after the round trip: %v", err)
	}
	t.Logf("peak heap in use: %d MiB for a %d MiB attachment", peak.Load()>>20, size>>20)
	if peak.Load() > heapLimit {
		t.Fatalf("heap in use peaked at %d MiB, over %d MiB", peak.Load()>>20, heapLimit>>20)
	}
}

func equalReaders(a, b io.Reader) (bool, error) {
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for {
		na, ea := io.ReadFull(a, ba)
		nb, eb := io.ReadFull(b, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == io.EOF || eb == io.ErrUnexpectedEOF, nil
		}
		if ea != nil {
			return false, ea
		}
	}
}

// freeDisk returns the bytes available to this user on dir's file system.
func freeDisk(t *testing.T, dir string) uint64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Bavail * uint64(st.Bsize)
}
