package relay_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"brieftraeger/envelope"
	"brieftraeger/internal/tlspin"
)

// floorServer serves, over the relay's own TLS configuration and
// certificate, the least that any relay has to do with a posted letter:
// read the envelope, check its header's signature with the sender's
// device key, publish it to the ceiling's stream and wait for the
// acknowledgement, and answer with a signed posted receipt. It files no
// mailbox entry, logs nothing and looks up no roster or channel. Its
// ingest, with the same clients as the relay's, is a second ceiling: the
// most a relay that takes letters over HTTPS could reach on this machine.
// It returns the server's URL; the server stops when b ends.
func floorServer(b *testing.B, w *world, js jetstream.JetStream, device ed25519.PublicKey) string {
	b.Helper()
	handle := func(req *http.Request) ([]byte, error) {
		frame, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		h, err := envelope.ReadHeader(bytes.NewReader(frame))
		if err != nil {
			return nil, err
		}
		if err := h.Verify(device); err != nil {
			return nil, err
		}
		f, err := js.PublishAsync("ceiling.x", frame)
		if err != nil {
			return nil, err
		}
		var ack *jetstream.PubAck
		select {
		case ack = <-f.Ok():
		case err := <-f.Err():
			return nil, err
		}
		rc := &envelope.Receipt{Kind: envelope.Posted, ID: h.ID, Envelope: h.Hash(), Party: "swiss",
			Signer: envelope.RelaySigner, Time: time.Now(), Seq: ack.Sequence}
		if err := rc.Sign(w.Dir.ReceiptKey); err != nil {
			return nil, err
		}
		return rc.Raw, nil
	}
	srv := &http.Server{TLSConfig: tlspin.ServerTLSConfig(w.Dir.TLS), Handler: http.HandlerFunc(
		func(rw http.ResponseWriter, req *http.Request) {
			raw, err := handle(req)
			if err != nil {
				http.Error(rw, err.Error(), http.StatusBadRequest)
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
	b.Cleanup(func() { srv.Shutdown(context.Background()) })
	return "https://" + ln.Addr().String()
}
