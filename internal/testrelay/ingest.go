package testrelay

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/internal/tlspin"
	"brieftraeger/letter"
)

// Envelopes returns n framed envelopes from p (whose keystore is ks) to
// party to that share one sealed ciphertext of a 1 KiB body but each have
// their own letter id and signature: the relay cannot open letters, so
// only the framing matters to it. The ingest benchmarks post them as the
// relay's ceiling.
func Envelopes(t testing.TB, p *client.Party, ks *identity.Keystore, to string, n int) [][]byte {
	t.Helper()
	ros, err := p.Contact(to)
	if err != nil {
		t.Fatal(err)
	}
	toEp, _ := ros.CurrentEpoch(time.Now())
	selfEp, _ := p.Roster().CurrentEpoch(time.Now())
	var ct bytes.Buffer
	lh, err := letter.Seal(&ct, &letter.Draft{From: p.Name(), Device: p.Device(), To: to, Seq: 1, Precedence: envelope.Routine,
		Subject: "test", Body: bytes.Repeat([]byte("x"), 1024)}, ks.Sign, *toEp, *selfEp)
	if err != nil {
		t.Fatal(err)
	}
	d := envelope.NewDigest()
	d.Write(ct.Bytes())
	base := envelope.Header{From: lh.From, Device: lh.Device, To: to, Epoch: lh.Epoch, Precedence: lh.Precedence,
		Size: uint64(ct.Len()), Digest: [32]byte(d.Sum(nil))}
	out := make([][]byte, n)
	for i := range out {
		h := base
		rand.Read(h.ID[:])
		if err := h.Sign(ks.Sign); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		envelope.WriteHeader(&b, &h)
		b.Write(ct.Bytes())
		out[i] = b.Bytes()
	}
	return out
}

// DeviceClient returns an HTTPS client that connects to the relay as ks's
// device, pinning the relay's certificate.
func (w *World) DeviceClient(t testing.TB, ks *identity.Keystore) *http.Client {
	conf, err := tlspin.ClientTLSConfig(ks.Sign, w.Dir.Descriptor.TLSSHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: conf, MaxIdleConnsPerHost: 256}}
}

// DeviceDo sends a request as ks's device, reads the answer to its end
// and returns its status.
func DeviceDo(c *http.Client, method, url string, ks *identity.Keystore, body io.Reader) (int, error) {
	req, _ := http.NewRequest(method, url, body)
	req.Header.Set(api.HeaderParty, ks.Party)
	req.Header.Set(api.HeaderDevice, ks.Device)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// PostFramed posts one framed envelope as ks's device and fails unless the
// relay answers 201.
func PostFramed(c *http.Client, url string, ks *identity.Keystore, body []byte) error {
	status, err := DeviceDo(c, http.MethodPost, url+api.PathEnvelopes, ks, bytes.NewReader(body))
	if err == nil && status != http.StatusCreated {
		err = fmt.Errorf("post: %s", http.StatusText(status))
	}
	return err
}

// Parallel runs n jobs on the given number of goroutines and reports
// jobs/s ("letters/s") and the process's CPU time per job
// ("cpu-µs/letter").
func Parallel(b *testing.B, clients, n int, job func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	b.ResetTimer()
	cpu0, cpuOK := processCPU()
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := job(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "letters/s")
	if cpu1, ok := processCPU(); ok && cpuOK {
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(n), "cpu-µs/letter")
	}
}
