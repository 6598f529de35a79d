package tlog

import (
	"fmt"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Tree is an append-only RFC 6962 Merkle tree that keeps every leaf hash and
// the root of every complete subtree, so that roots at any past size and
// inclusion and consistency proofs are cheap lookups plus at most a few
// dozen hashes.
//
// levels[0] holds the leaf hashes; levels[l][i] is the hash of the complete
// subtree of 2^l leaves starting at leaf i*2^l (merkle's compact.NodeID{l, i}).
// A tree of n leaves stores fewer than 2n hashes (64 MB at 1M leaves).
//
// The zero Tree is empty and ready to use. A Tree is safe for concurrent use:
// one writer and any number of readers.
type Tree struct {
	mu     sync.RWMutex
	levels [][][32]byte
}

// Append adds a leaf with the given leaf data (see [LeafData]) and returns its
// index.
func (t *Tree) Append(leafData []byte) uint64 {
	return t.AppendHash(LeafHash(leafData))
}

// AppendHash adds a leaf by its RFC 6962 leaf hash (see [LeafHash]) and
// returns its index. It is for rebuilding a tree from stored leaf hashes.
func (t *Tree) AppendHash(leafHash [32]byte) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.levels) == 0 {
		t.levels = append(t.levels, nil)
	}
	index := uint64(len(t.levels[0]))
	t.levels[0] = append(t.levels[0], leafHash)
	// While the new node is a right child, its parent is complete: store it.
	h := leafHash
	for l, i := 0, index; i&1 == 1; l, i = l+1, i>>1 {
		h = hashChildren(t.levels[l][i-1], h)
		if l+1 == len(t.levels) {
			t.levels = append(t.levels, nil)
		}
		t.levels[l+1] = append(t.levels[l+1], h)
	}
	return index
}

// Size returns the number of leaves.
func (t *Tree) Size() uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.size()
}

func (t *Tree) size() uint64 {
	if len(t.levels) == 0 {
		return 0
	}
	return uint64(len(t.levels[0]))
}

// LeafHash returns the leaf hash at index.
func (t *Tree) LeafHash(index uint64) ([32]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if index >= t.size() {
		return [32]byte{}, fmt.Errorf("tlog: leaf %d beyond tree size %d", index, t.size())
	}
	return t.levels[0][index], nil
}

// node returns a stored complete-subtree hash. The caller holds t.mu and has
// checked that the node lies within the tree.
func (t *Tree) node(id compact.NodeID) ([32]byte, error) {
	if int(id.Level) >= len(t.levels) || id.Index >= uint64(len(t.levels[id.Level])) {
		return [32]byte{}, fmt.Errorf("tlog: node (%d, %d) not stored", id.Level, id.Index)
	}
	return t.levels[id.Level][id.Index], nil
}

var rangeFactory = compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// Root returns the root hash of the tree at a past or the current size. The
// root of the empty tree is [EmptyRoot].
func (t *Tree) Root(size uint64) ([32]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if size > t.size() {
		return [32]byte{}, fmt.Errorf("%w: size %d, tree has %d leaves", errNoSuchSize, size, t.size())
	}
	if size == 0 {
		return EmptyRoot(), nil
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := t.node(id)
		if err != nil {
			return [32]byte{}, err
		}
		hashes[i] = h[:]
	}
	r, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return [32]byte{}, err
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return [32]byte{}, err
	}
	return to32(root), nil
}

// InclusionProof returns the RFC 6962 inclusion proof of leaf index in the
// tree of the given size (index < size <= Size()).
func (t *Tree) InclusionProof(index, size uint64) ([][32]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if size > t.size() {
		return nil, fmt.Errorf("%w: size %d, tree has %d leaves", errNoSuchSize, size, t.size())
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("tlog: %w", err)
	}
	return t.fetch(nodes)
}

// ConsistencyProof returns the RFC 6962 consistency proof from the tree of
// size m to the tree of size n (m <= n <= Size()). It is empty if m == 0 or
// m == n.
func (t *Tree) ConsistencyProof(m, n uint64) ([][32]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if n > t.size() {
		return nil, fmt.Errorf("%w: size %d, tree has %d leaves", errNoSuchSize, n, t.size())
	}
	nodes, err := proof.Consistency(m, n)
	if err != nil {
		return nil, fmt.Errorf("tlog: %w", err)
	}
	return t.fetch(nodes)
}

// fetch looks up the proof's stored nodes and folds the ones that make up
// the ephemeral node, as proof.Nodes.Rehash documents.
func (t *Tree) fetch(nodes proof.Nodes) ([][32]byte, error) {
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		h, err := t.node(id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h[:]
	}
	hashes, err := nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("tlog: %w", err)
	}
	out := make([][32]byte, len(hashes))
	for i := range hashes {
		out[i] = to32(hashes[i])
	}
	return out, nil
}
