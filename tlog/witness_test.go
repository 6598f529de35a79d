package tlog

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestWitness(t *testing.T) {
	s, v, _ := testLogKey(t, testOrigin, 1)
	leaves := testLeaves(40)
	tr := testTree(t, leaves)
	cpAt := func(tr *Tree, size uint64) *Checkpoint {
		t.Helper()
		root, err := tr.Root(size)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := Sign(testOrigin, size, root, s)
		if err != nil {
			t.Fatal(err)
		}
		cp, err := ParseCheckpoint(msg, testOrigin, v)
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}
	consistency := func(tr *Tree, m, n uint64) [][32]byte {
		t.Helper()
		p, err := tr.ConsistencyProof(m, n)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	// A forked history: the same first 20 leaves, then different ones.
	fork := testTree(t, leaves[:20])
	for i := 20; i < 40; i++ {
		fork.Append(LeafData(KindEnvelope, fmt.Appendf(nil, "forged %d", i)))
	}

	w := NewWitness(testOrigin)
	if w.Latest() != nil || w.Origin() != testOrigin {
		t.Fatal("new witness is not empty")
	}
	// The first checkpoint is taken as it is, proof or no proof.
	if err := w.Accept(cpAt(tr, 10), [][32]byte{{1}}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		cp   *Checkpoint
		p    [][32]byte
		want error // nil: accepted
	}{
		{"same again", cpAt(tr, 10), nil, nil},
		{"grow", cpAt(tr, 25), consistency(tr, 10, 25), nil},
		{"smaller", cpAt(tr, 24), nil, ErrRollback},
		{"smaller with proof", cpAt(tr, 5), consistency(tr, 5, 25), ErrRollback},
		{"split view", cpAt(fork, 25), nil, ErrSplitView},
		{"forked history", cpAt(fork, 30), consistency(fork, 25, 30), ErrInconsistent},
		{"no proof", cpAt(tr, 30), nil, ErrInconsistent},
		{"proof for other sizes", cpAt(tr, 30), consistency(tr, 24, 30), ErrInconsistent},
		{"grow again", cpAt(tr, 40), consistency(tr, 25, 40), nil},
		{"grow to same", cpAt(tr, 40), nil, nil},
		{"wrong origin", &Checkpoint{Origin: "brieftraeger.test/other", Size: 41}, nil, ErrWrongOrigin},
	}
	for _, st := range steps {
		before := w.Latest()
		err := w.Accept(st.cp, st.p)
		after := w.Latest()
		if st.want == nil {
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if after.Size != st.cp.Size || after.Root != st.cp.Root {
				t.Fatalf("%s: latest is %d, want %d", st.name, after.Size, st.cp.Size)
			}
			continue
		}
		if !errors.Is(err, st.want) {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.want)
		}
		t.Logf("%s: %v", st.name, err)
		if after.Size != before.Size || after.Root != before.Root || !bytes.Equal(after.Note, before.Note) {
			t.Fatalf("%s: refused but state changed from %d to %d", st.name, before.Size, after.Size)
		}
	}
	if err := w.Accept(nil, nil); err == nil {
		t.Error("nil checkpoint accepted")
	}
	// Latest returns a copy.
	l := w.Latest()
	l.Note[0] ^= 1
	l.Size = 1
	if w.Latest().Size != 40 || w.Latest().Note[0] == l.Note[0] {
		t.Error("Latest shares state with the witness")
	}
}
