package tlog

import (
	"errors"
	"fmt"
	"sync"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// VerifyInclusion checks that leafData is leaf number index of the tree of
// the given size and root, using merkle's RFC 6962 verifier.
func VerifyInclusion(leafData []byte, index, size uint64, root [32]byte, p [][32]byte) error {
	return VerifyInclusionHash(LeafHash(leafData), index, size, root, p)
}

// VerifyInclusionHash is [VerifyInclusion] for a leaf given by its leaf hash.
func VerifyInclusionHash(leafHash [32]byte, index, size uint64, root [32]byte, p [][32]byte) error {
	if index >= size {
		return fmt.Errorf("tlog: inclusion proof: index %d is not below size %d", index, size)
	}
	if len(p) > MaxProofHashes {
		return fmt.Errorf("tlog: inclusion proof has %d hashes, at most %d allowed", len(p), MaxProofHashes)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leafHash[:], toSlices(p), root[:]); err != nil {
		return fmt.Errorf("tlog: inclusion proof for leaf %d in tree of size %d does not verify: %w", index, size, err)
	}
	return nil
}

// VerifyConsistency checks that the tree of size m with root rootM is a
// prefix of the tree of size n with root rootN.
func VerifyConsistency(m, n uint64, rootM, rootN [32]byte, p [][32]byte) error {
	if m > n {
		return fmt.Errorf("tlog: consistency proof: size %d is above %d", m, n)
	}
	if len(p) > MaxProofHashes {
		return fmt.Errorf("tlog: consistency proof has %d hashes, at most %d allowed", len(p), MaxProofHashes)
	}
	if m == 0 && rootM != EmptyRoot() {
		return fmt.Errorf("tlog: consistency proof: root of the empty tree is wrong")
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, m, n, toSlices(p), rootM[:], rootN[:]); err != nil {
		return fmt.Errorf("tlog: consistency proof from size %d to %d does not verify: %w", m, n, err)
	}
	return nil
}

// Errors from [Witness.Accept]. Each is wrapped with the details; test with
// errors.Is.
var (
	// ErrWrongOrigin: the checkpoint is for another log.
	ErrWrongOrigin = errors.New("checkpoint is for another log")
	// ErrRollback: the checkpoint is smaller than the one already accepted.
	ErrRollback = errors.New("checkpoint is smaller than the one already accepted")
	// ErrSplitView: the checkpoint has the size of the accepted one but
	// another root. Both are signed by the log: proof of equivocation.
	ErrSplitView = errors.New("checkpoint has the accepted size but a different root")
	// ErrInconsistent: the consistency proof from the accepted checkpoint
	// does not verify.
	ErrInconsistent = errors.New("checkpoint is not consistent with the one already accepted")
)

// Witness keeps the latest checkpoint accepted for one log origin and
// accepts a newer one only with a consistency proof from it. A client keeps
// one Witness per relay log, and cosigns (see [Cosign]) what it accepted.
//
// The zero value is not usable; use [NewWitness]. A Witness is safe for
// concurrent use.
type Witness struct {
	origin string
	mu     sync.Mutex
	latest *Checkpoint
}

// NewWitness returns a Witness for the log with the given origin that has
// accepted nothing yet. To restore saved state, Accept the saved checkpoint
// first.
func NewWitness(origin string) *Witness {
	return &Witness{origin: origin}
}

// Origin returns the log origin the witness follows.
func (w *Witness) Origin() string { return w.origin }

// Latest returns the latest accepted checkpoint, or nil.
func (w *Witness) Latest() *Checkpoint {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.latest == nil {
		return nil
	}
	c := *w.latest
	c.Note = append([]byte(nil), c.Note...)
	return &c
}

// Accept takes cp, which the caller has parsed and signature-checked with
// [ParseCheckpoint], as the new latest checkpoint. The first checkpoint is
// accepted as it is (trust on first use; the consistency proof is ignored).
// After that, cp must have the same origin; a smaller size is refused
// ([ErrRollback]); the same size must have the same root ([ErrSplitView]),
// and is then accepted without change; a larger size needs a consistency
// proof from the accepted checkpoint that verifies ([ErrInconsistent]). On
// any error the accepted state is left untouched.
func (w *Witness) Accept(cp *Checkpoint, consistency [][32]byte) error {
	if cp == nil {
		return errors.New("tlog: witness: no checkpoint")
	}
	if cp.Origin != w.origin {
		return fmt.Errorf("tlog: witness: %w: origin %q, want %q", ErrWrongOrigin, cp.Origin, w.origin)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	old := w.latest
	switch {
	case old == nil:
	case cp.Size < old.Size:
		return fmt.Errorf("tlog: witness: %w: size %d, accepted %d", ErrRollback, cp.Size, old.Size)
	case cp.Size == old.Size:
		if cp.Root != old.Root {
			return fmt.Errorf("tlog: witness: %w: size %d", ErrSplitView, cp.Size)
		}
		return nil
	default:
		if err := VerifyConsistency(old.Size, cp.Size, old.Root, cp.Root, consistency); err != nil {
			return fmt.Errorf("tlog: witness: %w: from size %d to %d: %v", ErrInconsistent, old.Size, cp.Size, err)
		}
	}
	c := *cp
	c.Note = append([]byte(nil), cp.Note...)
	w.latest = &c
	return nil
}
