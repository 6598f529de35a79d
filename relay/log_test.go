package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/tlog"
)

// getAs fetches path as the device of ks.
func (w *world) getAs(ks *identity.Keystore, path string) (int, []byte) {
	return w.get(ks.Sign, ks.Party, ks.Device, path)
}

// checkpoint waits until the relay's checkpoint holds at least size leaves
// and returns it, verified with the log key from the relay's descriptor.
func (w *world) checkpoint(ks *identity.Keystore, size uint64) *tlog.Checkpoint {
	w.t.Helper()
	v, err := note.NewVerifier(w.Dir.Descriptor.LogKey)
	if err != nil {
		w.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, raw := w.getAs(ks, api.PathLogCheckpoint)
		if st != http.StatusOK {
			w.t.Fatalf("checkpoint: %d %s", st, raw)
		}
		cp, err := tlog.ParseCheckpoint(raw, w.Dir.Descriptor.LogOrigin, v)
		if err != nil {
			w.t.Fatal(err)
		}
		if cp.Size >= size {
			return cp
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("the log holds %d leaves after 10 s, want %d", cp.Size, size)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLogIncludesEverything posts a letter and files its receipts, then
// checks that the roster admissions, the envelope, its posted receipt and
// the filed receipts are all leaves of the relay's log, each with an
// inclusion proof against a checkpoint signed with the descriptor's log
// key, and that the later checkpoint is consistent with the earlier one.
func TestLogIncludesEverything(t *testing.T) {
	w := newWorld(t, 64<<10)
	ks := w.Keys(w.wash)
	first := w.checkpoint(ks, 3) // three rosters
	s := seal(t, w.wash, ks, "tehran", []byte("hello"), nil)
	st, posted := w.postAs(ks, s.frame())
	if st != http.StatusCreated {
		t.Fatalf("post: %d %s", st, posted)
	}
	if _, err := w.teh.Receive(context.Background(), s.h.ID.String()); err != nil {
		t.Fatal(err)
	}
	leaves := map[string][]byte{
		"envelope":         tlog.LeafData(tlog.KindEnvelope, s.h.Raw),
		"posted receipt":   tlog.LeafData(tlog.KindReceipt, posted),
		"roster of tehran": tlog.LeafData(tlog.KindRoster, w.teh.Roster().Raw),
	}
	// Envelope, posted receipt and delivered receipt.
	latest := w.checkpoint(ks, first.Size+3)
	for name, leaf := range leaves {
		code, body := w.getAs(ks, api.PathLogProof+"?leaf="+hexs(leaf))
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", name, code, body)
		}
		var lp api.LogProof
		if err := json.Unmarshal(body, &lp); err != nil {
			t.Fatal(err)
		}
		v, _ := note.NewVerifier(w.Dir.Descriptor.LogKey)
		cp, err := tlog.ParseCheckpoint(lp.Checkpoint, w.Dir.Descriptor.LogOrigin, v)
		if err != nil {
			t.Fatal(err)
		}
		p, err := tlog.ParseProof(lp.Proof)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.VerifyInclusion(leaf, lp.Index, cp.Size, cp.Root, p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		bad := bytes.Clone(leaf)
		bad[len(bad)-1] ^= 1
		if err := tlog.VerifyInclusion(bad, lp.Index, cp.Size, cp.Root, p); err == nil {
			t.Fatalf("%s: proof verified for another leaf", name)
		}
	}
	code, body := w.getAs(ks, api.PathLogConsistency+"?from="+strconv.FormatUint(first.Size, 10)+"&to="+strconv.FormatUint(latest.Size, 10))
	if code != http.StatusOK {
		t.Fatalf("consistency: %d %s", code, body)
	}
	var lp api.LogProof
	json.Unmarshal(body, &lp)
	p, _ := tlog.ParseProof(lp.Proof)
	wit := tlog.NewWitness(w.Dir.Descriptor.LogOrigin)
	if err := wit.Accept(first, nil); err != nil {
		t.Fatal(err)
	}
	if err := wit.Accept(latest, p); err != nil {
		t.Fatalf("the log is not consistent with itself: %v", err)
	}
	unknown := tlog.LeafData(tlog.KindEnvelope, []byte("never posted"))
	if code, _ := w.getAs(ks, api.PathLogProof+"?leaf="+hexs(unknown)); code != http.StatusNotFound {
		t.Fatalf("proof of an unknown leaf: %d", code)
	}
	if code, _ := w.getAs(ks, api.PathLogProof+"?leaf=zz"); code != http.StatusBadRequest {
		t.Fatalf("malformed leaf: %d", code)
	}
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
