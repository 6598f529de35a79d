package client_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/testrelay"
)

// BenchmarkSend measures a party's full send of a 1 KiB letter (seal,
// keep the sealed copy, record, post in order, verify and record the
// posted receipt) at 1, 8 and 32 concurrent sends on one channel, next to
// its ceiling in the same run: the relay taking the same party's letters
// pre-sealed, over HTTPS, from as many clients. docs/BENCHMARKS.md records
// the ratios.
func BenchmarkSend(b *testing.B) {
	w := testrelay.Start(b, testrelay.Options{})
	wash, teh := w.Party("washington"), w.Party("tehran")
	w.Connect(wash, teh)
	ks := w.Keys(wash)
	ctx := context.Background()
	body := bytes.Repeat([]byte("x"), 1024)
	for _, c := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("relay-presealed/c=%d", c), func(b *testing.B) {
			envs := testrelay.Envelopes(b, wash, ks, "tehran", b.N)
			hc := w.DeviceClient(b, ks)
			defer hc.CloseIdleConnections()
			testrelay.Parallel(b, c, b.N, func(i int) error { return testrelay.PostFramed(hc, w.URL, ks, envs[i]) })
		})
		testrelay.SettleLog(b, w.Store)
		b.Run(fmt.Sprintf("send/c=%d", c), func(b *testing.B) {
			testrelay.Parallel(b, c, b.N, func(i int) error {
				_, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "bench", Precedence: envelope.Routine, Body: body})
				return err
			})
		})
		testrelay.SettleLog(b, w.Store)
	}
}
