package tlog

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"brieftraeger/identity"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// refRoot is the RFC 6962 Merkle tree hash (section 2.1), written from the
// definition, to check Tree against.
func refRoot(leaves [][]byte) []byte {
	h := rfc6962.DefaultHasher
	switch n := len(leaves); n {
	case 0:
		return h.EmptyRoot()
	case 1:
		return h.HashLeaf(leaves[0])
	default:
		k := 1
		for k*2 < n {
			k *= 2
		}
		return h.HashChildren(refRoot(leaves[:k]), refRoot(leaves[k:]))
	}
}

func testLeaves(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = LeafData(Kind(i%3+1), fmt.Appendf(nil, "entry %d", i))
	}
	return out
}

const maxTestLeaves = 64

func testTree(t testing.TB, leaves [][]byte) *Tree {
	t.Helper()
	var tr Tree
	for i, l := range leaves {
		if got := tr.Append(l); got != uint64(i) {
			t.Fatalf("Append returned index %d, want %d", got, i)
		}
	}
	return &tr
}

func TestEntryHash(t *testing.T) {
	raw := []byte("a signed receipt")
	want := identity.Hash("brieftraeger/v1 log-entry", []byte{2}, raw)
	if got := EntryHash(KindReceipt, raw); got != want {
		t.Fatalf("EntryHash = %x, want %x", got, want)
	}
	seen := map[[32]byte]Kind{}
	for _, k := range []Kind{KindEnvelope, KindReceipt, KindRoster} {
		h := EntryHash(k, raw)
		if k2, dup := seen[h]; dup {
			t.Fatalf("kinds %v and %v hash alike", k, k2)
		}
		seen[h] = k
		d := LeafData(k, raw)
		if len(d) != LeafDataSize || d[0] != byte(k) || !bytes.Equal(d[1:], h[:]) {
			t.Fatalf("LeafData(%v) = %x", k, d)
		}
		k2, h2, err := ParseLeaf(d)
		if err != nil || k2 != k || h2 != h {
			t.Fatalf("ParseLeaf = %v, %x, %v", k2, h2, err)
		}
		if LeafHash(d) != [32]byte(rfc6962.DefaultHasher.HashLeaf(d)) {
			t.Fatal("LeafHash is not the RFC 6962 leaf hash")
		}
	}
	for _, bad := range [][]byte{nil, make([]byte, 32), make([]byte, 34), append([]byte{0}, make([]byte, 32)...), append([]byte{4}, make([]byte, 32)...)} {
		if _, _, err := ParseLeaf(bad); err == nil {
			t.Errorf("ParseLeaf(%x) accepted", bad)
		}
	}
}

func TestTreeRoots(t *testing.T) {
	leaves := testLeaves(maxTestLeaves)
	var tr Tree
	if r, err := tr.Root(0); err != nil || r != EmptyRoot() {
		t.Fatalf("empty Root = %x, %v", r, err)
	}
	for i, l := range leaves {
		tr.Append(l)
		// The root at every past size stays the same as the tree grows.
		for size := 0; size <= i+1; size++ {
			r, err := tr.Root(uint64(size))
			if err != nil {
				t.Fatal(err)
			}
			if want := refRoot(leaves[:size]); !bytes.Equal(r[:], want) {
				t.Fatalf("after %d appends, Root(%d) = %x, want %x", i+1, size, r, want)
			}
		}
	}
	if tr.Size() != maxTestLeaves {
		t.Fatalf("Size = %d", tr.Size())
	}
	if _, err := tr.Root(maxTestLeaves + 1); err == nil {
		t.Fatal("Root beyond the tree accepted")
	}
	h, err := tr.LeafHash(5)
	if err != nil || h != LeafHash(leaves[5]) {
		t.Fatalf("LeafHash(5) = %x, %v", h, err)
	}
	if _, err := tr.LeafHash(maxTestLeaves); err == nil {
		t.Fatal("LeafHash beyond the tree accepted")
	}
}

func TestInclusionProofs(t *testing.T) {
	leaves := testLeaves(maxTestLeaves)
	tr := testTree(t, leaves)
	for size := uint64(1); size <= maxTestLeaves; size++ {
		root, _ := tr.Root(size)
		otherRoot, _ := tr.Root(size - 1)
		for index := uint64(0); index < size; index++ {
			p, err := tr.InclusionProof(index, size)
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", index, size, err)
			}
			lh := LeafHash(leaves[index])
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, lh[:], toSlices(p), root[:]); err != nil {
				t.Fatalf("merkle refuses InclusionProof(%d, %d): %v", index, size, err)
			}
			if err := VerifyInclusion(leaves[index], index, size, root, p); err != nil {
				t.Fatalf("VerifyInclusion(%d, %d): %v", index, size, err)
			}
			// A wrong leaf, a wrong index, a wrong root: each refused.
			if VerifyInclusion(leaves[(index+1)%maxTestLeaves], index, size, root, p) == nil {
				t.Fatalf("(%d, %d): wrong leaf accepted", index, size)
			}
			if size > 1 && VerifyInclusion(leaves[index], (index+1)%size, size, root, p) == nil {
				t.Fatalf("(%d, %d): wrong index accepted", index, size)
			}
			if VerifyInclusion(leaves[index], index, size, otherRoot, p) == nil {
				t.Fatalf("(%d, %d): wrong root accepted", index, size)
			}
			// No wrong-size case: an RFC 6962 root does not commit to the
			// size by itself (a proof at size 3 can verify at size 4 against
			// the same root). Size and root always come together from a
			// signed checkpoint.
			for i := range p {
				bad := append([][32]byte(nil), p...)
				bad[i][i%32] ^= 1
				if VerifyInclusion(leaves[index], index, size, root, bad) == nil {
					t.Fatalf("(%d, %d): tampered proof accepted", index, size)
				}
			}
			if len(p) > 0 && VerifyInclusion(leaves[index], index, size, root, p[:len(p)-1]) == nil {
				t.Fatalf("(%d, %d): short proof accepted", index, size)
			}
		}
	}
	for _, c := range []struct{ index, size uint64 }{{0, 0}, {5, 5}, {0, maxTestLeaves + 1}} {
		if _, err := tr.InclusionProof(c.index, c.size); err == nil {
			t.Errorf("InclusionProof(%d, %d) accepted", c.index, c.size)
		}
	}
	if VerifyInclusion(leaves[0], 1, 1, EmptyRoot(), nil) == nil {
		t.Error("index beyond size accepted")
	}
}

func TestConsistencyProofs(t *testing.T) {
	leaves := testLeaves(maxTestLeaves)
	tr := testTree(t, leaves)
	roots := make([][32]byte, maxTestLeaves+1)
	for i := range roots {
		roots[i], _ = tr.Root(uint64(i))
	}
	for n := uint64(0); n <= maxTestLeaves; n++ {
		for m := uint64(0); m <= n; m++ {
			p, err := tr.ConsistencyProof(m, n)
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", m, n, err)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, m, n, toSlices(p), roots[m][:], roots[n][:]); err != nil {
				t.Fatalf("merkle refuses ConsistencyProof(%d, %d): %v", m, n, err)
			}
			if err := VerifyConsistency(m, n, roots[m], roots[n], p); err != nil {
				t.Fatalf("VerifyConsistency(%d, %d): %v", m, n, err)
			}
			wrong := roots[(m+1)%(maxTestLeaves+1)]
			if VerifyConsistency(m, n, wrong, roots[n], p) == nil {
				t.Fatalf("(%d, %d): wrong old root accepted", m, n)
			}
			if m > 0 && VerifyConsistency(m, n, roots[m], roots[(n+1)%(maxTestLeaves+1)], p) == nil {
				t.Fatalf("(%d, %d): wrong new root accepted", m, n)
			}
			for i := range p {
				bad := append([][32]byte(nil), p...)
				bad[i][0] ^= 0x80
				if VerifyConsistency(m, n, roots[m], roots[n], bad) == nil {
					t.Fatalf("(%d, %d): tampered proof accepted", m, n)
				}
			}
		}
	}
	if _, err := tr.ConsistencyProof(3, 2); err == nil {
		t.Error("ConsistencyProof(3, 2) accepted")
	}
	if _, err := tr.ConsistencyProof(1, maxTestLeaves+1); err == nil {
		t.Error("ConsistencyProof beyond the tree accepted")
	}
	if VerifyConsistency(3, 2, roots[3], roots[2], nil) == nil {
		t.Error("VerifyConsistency(3, 2) accepted")
	}
}

func TestProofEncoding(t *testing.T) {
	var tr Tree
	for _, l := range testLeaves(maxTestLeaves) {
		tr.Append(l)
	}
	p, _ := tr.InclusionProof(13, 61)
	b := MarshalProof(p)
	if len(b) != 32*len(p) {
		t.Fatalf("MarshalProof length %d", len(b))
	}
	q, err := ParseProof(b)
	if err != nil || len(q) != len(p) {
		t.Fatalf("ParseProof: %v", err)
	}
	for i := range p {
		if p[i] != q[i] {
			t.Fatal("ParseProof(MarshalProof(p)) != p")
		}
	}
	for _, c := range []struct {
		n  int
		ok bool
	}{{0, true}, {32, true}, {31, false}, {33, false}, {64 * 32, true}, {65 * 32, false}} {
		_, err := ParseProof(make([]byte, c.n))
		if (err == nil) != c.ok {
			t.Errorf("ParseProof(%d bytes): err = %v", c.n, err)
		}
	}
	if VerifyInclusion(nil, 0, 2, EmptyRoot(), make([][32]byte, MaxProofHashes+1)) == nil {
		t.Error("oversized proof accepted")
	}
	if !errors.Is(func() error { _, err := tr.Root(1000); return err }(), errNoSuchSize) {
		t.Error("Root(1000) error is not errNoSuchSize")
	}
}

func TestTreeConcurrent(t *testing.T) {
	leaves := testLeaves(2000)
	var tr Tree
	tr.Append(leaves[0])
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, l := range leaves[1:] {
			tr.Append(l)
		}
	}()
	for i := 0; i < 200; i++ {
		size := tr.Size()
		root, err := tr.Root(size)
		if err != nil {
			t.Fatal(err)
		}
		index := uint64(i) % size
		p, err := tr.InclusionProof(index, size)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyInclusion(leaves[index], index, size, root, p); err != nil {
			t.Fatal(err)
		}
	}
	<-done
}
