package tlog

import (
	"bytes"
	"crypto/ed25519"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

var update = flag.Bool("update", false, "rewrite testdata/checkpoint.txt")

// The test vector in testdata/checkpoint.txt (also shown in docs/PROTOCOL.md):
//
//   - log key: Ed25519 seed 32 bytes of 0x01, key name = origin =
//     "brieftraeger.test/log";
//   - leaves i = 0..6: LeafData(Kind(i%3+1), "entry <i>");
//   - checkpoint at size 7, then a cosignature by
//     "brieftraeger.test/witness/alice" (Ed25519 seed 32 bytes of 0x20) at
//     time 1767225600.
const (
	vectorSize = 7
	vectorTime = 1767225600
)

func vectorNote(t *testing.T) ([]byte, note.Verifier) {
	s, v, _ := testLogKey(t, testOrigin, 1)
	tr := testTree(t, testLeaves(vectorSize))
	root, err := tr.Root(vectorSize)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := Sign(testOrigin, vectorSize, root, s)
	if err != nil {
		t.Fatal(err)
	}
	line, err := Cosign(cp, testWitness, seedKey(0x20), time.Unix(vectorTime, 0))
	if err != nil {
		t.Fatal(err)
	}
	return append(cp, line...), v
}

func TestCheckpointVector(t *testing.T) {
	got, v := vectorNote(t)
	if *update {
		if err := os.WriteFile("testdata/checkpoint.txt", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/checkpoint.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("checkpoint vector changed:\n%s\nwant:\n%s", got, want)
	}
	cp, err := ParseCheckpoint(want, testOrigin, v)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != vectorSize {
		t.Fatalf("size %d", cp.Size)
	}
	ts, err := VerifyCosignature(want, testWitness, seedKey(0x20).Public().(ed25519.PublicKey))
	if err != nil || ts.Unix() != vectorTime {
		t.Fatalf("cosignature: %v, %v", ts, err)
	}
	// Every leaf of the vector is provably in it.
	tr := testTree(t, testLeaves(vectorSize))
	for i, l := range testLeaves(vectorSize) {
		p, err := tr.InclusionProof(uint64(i), vectorSize)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyInclusion(l, uint64(i), vectorSize, cp.Root, p); err != nil {
			t.Fatal(err)
		}
	}
	if testing.Verbose() {
		_, _, vkey := testLogKey(t, testOrigin, 1)
		wkey, _ := CosignerVerifierKey(testWitness, seedKey(0x20).Public().(ed25519.PublicKey))
		fmt.Printf("log vkey: %s\nwitness vkey: %s\nleaf 0: %x\n", vkey, wkey, testLeaves(1)[0])
	}
}
