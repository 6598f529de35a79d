package tlog

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"
)

func BenchmarkAppend(b *testing.B) {
	var tr Tree
	leaf := make([]byte, LeafDataSize)
	leaf[0] = byte(KindEnvelope)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint64(leaf[1:], uint64(i))
		tr.Append(leaf)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "leaves/s")
}

const benchLeaves = 1 << 20

var (
	benchOnce sync.Once
	benchTree *Tree
	benchLeaf [][]byte
)

// bigTree builds a 1M-leaf (2^20) tree once for all benchmarks. The size
// benchmarks use is 1,000,000, so proofs include a partial node.
func bigTree() (*Tree, uint64) {
	benchOnce.Do(func() {
		benchTree = new(Tree)
		benchLeaf = make([][]byte, benchLeaves)
		for i := range benchLeaf {
			d := make([]byte, LeafDataSize)
			d[0] = byte(KindEnvelope)
			binary.BigEndian.PutUint64(d[1:], uint64(i))
			benchLeaf[i] = d
			benchTree.Append(d)
		}
	})
	return benchTree, 1_000_000
}

func BenchmarkInclusionProof(b *testing.B) {
	tr, size := bigTree()
	r := rand.New(rand.NewPCG(1, 2))
	total := 0
	b.ReportAllocs()
	for b.Loop() {
		p, err := tr.InclusionProof(r.Uint64N(size), size)
		if err != nil {
			b.Fatal(err)
		}
		total += len(p)
	}
	b.ReportMetric(float64(total)/float64(b.N), "hashes/proof")
}

func BenchmarkConsistencyProof(b *testing.B) {
	tr, size := bigTree()
	r := rand.New(rand.NewPCG(1, 2))
	total := 0
	b.ReportAllocs()
	for b.Loop() {
		p, err := tr.ConsistencyProof(1+r.Uint64N(size-1), size)
		if err != nil {
			b.Fatal(err)
		}
		total += len(p)
	}
	b.ReportMetric(float64(total)/float64(b.N), "hashes/proof")
}

func BenchmarkRoot(b *testing.B) {
	tr, size := bigTree()
	for b.Loop() {
		if _, err := tr.Root(size); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyInclusion(b *testing.B) {
	tr, size := bigTree()
	root, _ := tr.Root(size)
	const n = 1024
	r := rand.New(rand.NewPCG(1, 2))
	idx := make([]uint64, n)
	proofs := make([][][32]byte, n)
	for i := range idx {
		idx[i] = r.Uint64N(size)
		proofs[i], _ = tr.InclusionProof(idx[i], size)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		j := i % n
		if err := VerifyInclusion(benchLeaf[idx[j]], idx[j], size, root, proofs[j]); err != nil {
			b.Fatal(err)
		}
	}
}
