package client_test

import (
	"context"
	"encoding/binary"
	"testing"

	"brieftraeger/internal/testrelay"
	"brieftraeger/store"
	"brieftraeger/tlog"
)

// BenchmarkAudit audits a log of one million leaves: fetch every leaf over
// HTTPS, recompute the tree and compare its root with the checkpoint's.
// The log is filled before the relay starts; setting up takes a while.
func BenchmarkAudit(b *testing.B) {
	const size = 1 << 20
	w := testrelay.Start(b, testrelay.Options{Prefill: func(st *store.Store) error {
		leaves := make([]store.LogLeaf, 0, store.MaxCommitBatch)
		var raw [8]byte
		for i := uint64(0); i < size; i++ {
			binary.BigEndian.PutUint64(raw[:], i)
			leaves = append(leaves, store.LogLeaf{Data: tlog.LeafData(tlog.KindEnvelope, raw[:]), Source: store.LogMail, SourceSeq: 0})
			if len(leaves) == cap(leaves) || i == size-1 {
				if _, err := st.AppendLog(context.Background(), i+1-uint64(len(leaves)), leaves); err != nil {
					return err
				}
				leaves = leaves[:0]
			}
		}
		return nil
	}})
	p := w.Party("auditor")
	b.ResetTimer()
	for b.Loop() {
		rep, err := p.Audit(context.Background(), nil)
		if err != nil {
			b.Fatal(err)
		}
		if !rep.TreeMatches || rep.Size < size {
			b.Fatalf("audit: %+v", rep)
		}
	}
	b.ReportMetric(size, "leaves")
}
