package relay_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"brieftraeger/envelope"
	"brieftraeger/internal/tlspin"
)

// floorEntry says what floorServer writes besides the letter: nothing,
// or a mailbox entry as the relay's, in a stream of its own or in the
// letter's own write.
type floorEntry int

const (
	noEntry      floorEntry = iota // the letter only, to CEILING
	entryApart                     // and an entry to FLOORBOX, not awaited by the post
	entryInBatch                   // letter and entry in one atomic batch to FLOOR
)

// floorStreams creates the R3 streams of the floors with entries: FLOOR,
// which takes atomic batches, and FLOORBOX.
func floorStreams(b *testing.B, js jetstream.JetStream) {
	b.Helper()
	for _, c := range []jetstream.StreamConfig{
		{Name: "FLOOR", Subjects: []string{"floor.>"}, AllowAtomicPublish: true},
		{Name: "FLOORBOX", Subjects: []string{"floorbox.>"}},
	} {
		c.Storage, c.Replicas = jetstream.FileStorage, 3
		if _, err := js.CreateStream(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
}

// floorServer serves, over the relay's own TLS configuration and
// certificate, the least that any relay has to do with a posted letter:
// check that the connection's client key is the sender's device key, read
// the envelope, check its header's signature and its ciphertext against
// the signed size and digest, publish it and wait for the
// acknowledgement, and answer with a signed posted receipt. It looks up
// no roster or channel and logs nothing; with noEntry it files no
// mailbox entry either. Its ingest, with the same clients as the
// relay's, is a second ceiling: the most a relay that takes letters over
// HTTPS could reach on this machine. entryApart and entryInBatch add the
// entry that makes a letter listable, the way the relay writes it (a
// second stream, after the letter) and in the same atomic write. The
// server stops when b ends, and b fails then if the server refused a post
// or lost an entry.
func floorServer(b *testing.B, w *world, device ed25519.PublicKey, entry floorEntry) *floor {
	b.Helper()
	f := &floor{js: w.Store.JetStream(), nc: w.Store.Conn(), device: device, key: w.Dir.ReceiptKey, entry: entry,
		open: make(chan struct{}, maxOpenBatches)}
	srv := &http.Server{TLSConfig: tlspin.ServerTLSConfig(w.Dir.TLS), Handler: http.HandlerFunc(
		func(rw http.ResponseWriter, req *http.Request) {
			raw, err := f.post(req)
			if err != nil {
				f.fail(err)
				http.Error(rw, err.Error(), http.StatusInternalServerError)
				return
			}
			rw.Header().Set("Content-Type", "application/octet-stream")
			rw.WriteHeader(http.StatusCreated)
			rw.Write(raw)
		})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(tls.NewListener(ln, srv.TLSConfig))
	b.Cleanup(func() {
		srv.Close()
		f.entries.Wait()
		if err := f.failed.Load(); err != nil {
			b.Errorf("the floor failed: %v", *err)
		}
	})
	f.url = "https://" + ln.Addr().String()
	return f
}

// floor is floorServer's state: its URL, where it writes, the entries
// it still waits for, and its first failure.
type floor struct {
	url     string
	js      jetstream.JetStream
	nc      *nats.Conn
	device  ed25519.PublicKey
	key     ed25519.PrivateKey
	entry   floorEntry
	batches atomic.Uint64
	open    chan struct{}  // a slot per atomic batch open at once
	entries sync.WaitGroup // entryApart writes still awaited
	failed  atomic.Pointer[error]
}

func (f *floor) fail(err error) { f.failed.CompareAndSwap(nil, &err) }

// idle waits until every entry written apart is acknowledged, so that
// none is still replicating when the next sub-benchmark starts.
func (f *floor) idle() { f.entries.Wait() }

// post does floorServer's work for one post and returns the signed
// posted receipt.
func (f *floor) post(req *http.Request) ([]byte, error) {
	if k, ok := tlspin.PeerKey(req.TLS); !ok || !k.Equal(f.device) {
		return nil, errors.New("the connection is not the sender's device")
	}
	frame, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, fmt.Errorf("failed to read the envelope: %w", err)
	}
	body := bytes.NewReader(frame)
	h, err := envelope.ReadHeader(body)
	if err != nil {
		return nil, fmt.Errorf("failed to read the envelope's header: %w", err)
	}
	header := frame[:len(frame)-body.Len()]
	if err := h.Verify(f.device); err != nil {
		return nil, err
	}
	digest := envelope.NewDigest()
	if n, _ := io.Copy(digest, body); uint64(n) != h.Size || !bytes.Equal(digest.Sum(nil), h.Digest[:]) {
		return nil, errors.New("the ciphertext does not match the signed size and digest")
	}
	var seq uint64
	if f.entry == entryInBatch {
		seq, err = f.publishBatch(frame, header, h.ID.String())
	} else {
		seq, err = awaitPublish(f.js, "ceiling.x", frame)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to publish the envelope: %w", err)
	}
	if f.entry == entryApart {
		f.entries.Add(1)
		go func() {
			defer f.entries.Done()
			if _, err := awaitPublish(f.js, "floorbox."+h.ID.String(), header); err != nil {
				f.fail(fmt.Errorf("failed to file the entry: %w", err))
			}
		}()
	}
	rc := &envelope.Receipt{Kind: envelope.Posted, ID: h.ID, Envelope: h.Hash(), Party: "floor",
		Signer: envelope.RelaySigner, Time: time.Now(), Seq: seq}
	if err := rc.Sign(f.key); err != nil {
		return nil, err
	}
	return rc.Raw, nil
}

// awaitPublish publishes data asynchronously, as the async ceiling does,
// and waits for its acknowledgement.
func awaitPublish(js jetstream.JetStream, subject string, data []byte) (uint64, error) {
	f, err := js.PublishAsync(subject, data)
	if err != nil {
		return 0, err
	}
	select {
	case ack := <-f.Ok():
		return ack.Sequence, nil
	case err := <-f.Err():
		return 0, err
	case <-time.After(30 * time.Second):
		return 0, errors.New("no acknowledgement within 30 s")
	}
}

// maxOpenBatches keeps the batched floor under nats-server's limit of 50
// atomic batches open at once per stream; above it the server refuses a
// batch as incomplete. (The relay's committer has one open at a time.)
const maxOpenBatches = 40

// publishBatch writes the letter and its entry to FLOOR as one atomic
// batch of two and returns the letter's sequence.
func (f *floor) publishBatch(frame, header []byte, id string) (uint64, error) {
	f.open <- struct{}{}
	defer func() { <-f.open }()
	batch := strconv.FormatUint(f.batches.Add(1), 36)
	letter, entry := nats.NewMsg("floor.mail."+id), nats.NewMsg("floor.box."+id)
	letter.Data, entry.Data = frame, header
	for i, m := range []*nats.Msg{letter, entry} {
		m.Header.Set("Nats-Batch-Id", batch)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
	}
	entry.Header.Set("Nats-Batch-Commit", "1")
	if err := f.nc.PublishMsg(letter); err != nil {
		return 0, err
	}
	r, err := f.nc.RequestMsg(entry, 30*time.Second)
	if err != nil {
		return 0, err
	}
	var ack struct {
		Error *jetstream.APIError `json:"error"`
		Seq   uint64              `json:"seq"`
		Count int                 `json:"count"`
	}
	if err := json.Unmarshal(r.Data, &ack); err != nil {
		return 0, err
	}
	if ack.Error != nil {
		return 0, ack.Error
	}
	if ack.Count != 2 {
		return 0, fmt.Errorf("unexpected acknowledgement %q", r.Data)
	}
	return ack.Seq - 1, nil
}
