package relay_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"brieftraeger/envelope"
	"brieftraeger/internal/tlspin"
)

// floorServer serves, over the relay's own TLS configuration and
// certificate, the least that any relay has to do with a posted letter:
// check that the connection's client key is the sender's device key, read
// the envelope, check its header's signature and its ciphertext against
// the signed size and digest, publish it to the ceiling's stream and wait
// for the acknowledgement, and answer with a signed posted receipt. It
// files no mailbox entry, logs nothing and looks up no roster or channel.
// Its ingest, with the same clients as the relay's, is a second ceiling:
// the most a relay that takes letters over HTTPS could reach on this
// machine. It returns the server's URL; the server stops when b ends, and
// b fails then if the server refused a post.
func floorServer(b *testing.B, w *world, js jetstream.JetStream, device ed25519.PublicKey) string {
	b.Helper()
	var failed atomic.Pointer[error]
	srv := &http.Server{TLSConfig: tlspin.ServerTLSConfig(w.Dir.TLS), Handler: http.HandlerFunc(
		func(rw http.ResponseWriter, req *http.Request) {
			raw, err := floorPost(req, js, device, w.Dir.ReceiptKey)
			if err != nil {
				failed.CompareAndSwap(nil, &err)
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
		if err := failed.Load(); err != nil {
			b.Errorf("the floor refused a post: %v", *err)
		}
	})
	return "https://" + ln.Addr().String()
}

// floorPost does floorServer's work for one post and returns the signed
// posted receipt.
func floorPost(req *http.Request, js jetstream.JetStream, device ed25519.PublicKey, receiptKey ed25519.PrivateKey) ([]byte, error) {
	if k, ok := tlspin.PeerKey(req.TLS); !ok || !k.Equal(device) {
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
	if err := h.Verify(device); err != nil {
		return nil, err
	}
	digest := envelope.NewDigest()
	if n, _ := io.Copy(digest, body); uint64(n) != h.Size || !bytes.Equal(digest.Sum(nil), h.Digest[:]) {
		return nil, errors.New("the ciphertext does not match the signed size and digest")
	}
	f, err := js.PublishAsync("ceiling.x", frame)
	if err != nil {
		return nil, fmt.Errorf("failed to publish the envelope: %w", err)
	}
	var ack *jetstream.PubAck
	select {
	case ack = <-f.Ok():
	case err := <-f.Err():
		return nil, fmt.Errorf("failed to publish the envelope: %w", err)
	case <-time.After(30 * time.Second):
		return nil, errors.New("failed to publish the envelope: no acknowledgement within 30 s")
	}
	rc := &envelope.Receipt{Kind: envelope.Posted, ID: h.ID, Envelope: h.Hash(), Party: "floor",
		Signer: envelope.RelaySigner, Time: time.Now(), Seq: ack.Sequence}
	if err := rc.Sign(receiptKey); err != nil {
		return nil, err
	}
	return rc.Raw, nil
}
