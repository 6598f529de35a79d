package tlog

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

const testOrigin = "brieftraeger.test/log"

func seedKey(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

// testLogKey returns a deterministic log signer and verifier.
func testLogKey(t testing.TB, name string, seed byte) (note.Signer, note.Verifier, string) {
	t.Helper()
	skey, vkey, err := NewLogKey(name, seedKey(seed))
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v, vkey
}

func TestCheckpointRoundTrip(t *testing.T) {
	s, v, _ := testLogKey(t, testOrigin, 1)
	tr := testTree(t, testLeaves(10))
	root, _ := tr.Root(10)
	msg, err := Sign(testOrigin, 10, root, s)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := ParseCheckpoint(msg, testOrigin, v)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Origin != testOrigin || cp.Size != 10 || cp.Root != root || !bytes.Equal(cp.Note, msg) {
		t.Fatalf("parsed %+v", cp)
	}
	if !bytes.HasPrefix(msg, cp.Body()) {
		t.Fatalf("note %q does not start with body %q", msg, cp.Body())
	}
	if _, err := ParseCheckpoint(msg, "brieftraeger.test/other", v); err == nil {
		t.Error("wrong origin accepted")
	}
	_, v2, _ := testLogKey(t, testOrigin, 2)
	if _, err := ParseCheckpoint(msg, testOrigin, v2); err == nil {
		t.Error("checkpoint accepted with another log key")
	}
	if _, err := ParseCheckpoint(msg, testOrigin, nil); err == nil {
		t.Error("nil verifier accepted")
	}
	if _, err := ParseCheckpoint(append(msg, make([]byte, MaxCheckpointSize)...), testOrigin, v); err == nil {
		t.Error("oversized checkpoint accepted")
	}
	// Extra signature lines by unknown keys are ignored.
	s3, _, _ := testLogKey(t, "someone.else/key", 3)
	msg2, err := note.Sign(&note.Note{Text: string(cp.Body())}, s, s3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseCheckpoint(msg2, testOrigin, v); err != nil {
		t.Errorf("extra signature line refused: %v", err)
	}
	// Every single-byte change is refused.
	for i := range msg {
		bad := bytes.Clone(msg)
		bad[i] ^= 0x01
		if _, err := ParseCheckpoint(bad, testOrigin, v); err == nil {
			t.Fatalf("tampered checkpoint (byte %d) accepted: %q", i, bad)
		}
	}
	// Truncations are refused.
	for i := range msg {
		if _, err := ParseCheckpoint(msg[:i], testOrigin, v); err == nil {
			t.Fatalf("truncated checkpoint (%d bytes) accepted", i)
		}
	}
}

func TestCheckpointMalformed(t *testing.T) {
	s, v, _ := testLogKey(t, testOrigin, 1)
	root := "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
	for _, tc := range []struct{ name, body string }{
		{"extension line", testOrigin + "\n5\n" + root + "\nextension\n"},
		{"two lines", testOrigin + "\n5\n"},
		{"leading zero", testOrigin + "\n05\n" + root + "\n"},
		{"plus sign", testOrigin + "\n+5\n" + root + "\n"},
		{"negative", testOrigin + "\n-5\n" + root + "\n"},
		{"hex size", testOrigin + "\n0x5\n" + root + "\n"},
		{"size overflow", testOrigin + "\n18446744073709551616\n" + root + "\n"},
		{"empty size", testOrigin + "\n\n" + root + "\n"},
		{"short root", testOrigin + "\n5\nAAAA\n"},
		{"long root", testOrigin + "\n5\n" + strings.Repeat("A", 44) + "AAAA\n"},
		{"unpadded root", testOrigin + "\n5\n" + strings.TrimSuffix(root, "=") + "\n"},
		{"non-canonical root", testOrigin + "\n5\n" + root[:42] + "V=\n"},
		{"url base64 root", testOrigin + "\n5\n" + strings.NewReplacer("+", "-", "/", "_").Replace(root) + "\n"},
		{"root with space", testOrigin + "\n5\n " + root + "\n"},
		{"origin with space", "brieftraeger.test log\n5\n" + root + "\n"},
	} {
		msg, err := note.Sign(&note.Note{Text: tc.body}, s)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		origin, _, _ := strings.Cut(tc.body, "\n")
		if _, err := ParseCheckpoint(msg, origin, v); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	// The good body for comparison.
	msg, _ := note.Sign(&note.Note{Text: testOrigin + "\n5\n" + root + "\n"}, s)
	if _, err := ParseCheckpoint(msg, testOrigin, v); err != nil {
		t.Fatalf("good body refused: %v", err)
	}
	for _, origin := range []string{"", "a b", "a+b", "a\tb", "a\x00b", strings.Repeat("x", 256)} {
		if _, err := Sign(origin, 1, [32]byte{}, s); err == nil {
			t.Errorf("Sign accepted origin %q", origin)
		}
	}
	if _, err := Sign(testOrigin, 1, [32]byte{}, nil); err == nil {
		t.Error("Sign accepted nil signer")
	}
}

func TestLogKeys(t *testing.T) {
	skey, vkey, err := GenerateLogKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := Sign(testOrigin, 0, EmptyRoot(), s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseCheckpoint(msg, testOrigin, v); err != nil {
		t.Fatal(err)
	}
	if _, _, err := GenerateLogKey("bad name"); err == nil {
		t.Error("GenerateLogKey accepted a name with a space")
	}
	// NewLogKey makes the same verifier key as x/mod's own encoder.
	priv := seedKey(7)
	_, vk, err := NewLogKey(testOrigin, priv)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := note.NewEd25519VerifierKey(testOrigin, priv.Public().(ed25519.PublicKey))
	if vk != want {
		t.Fatalf("NewLogKey vkey %q, want %q", vk, want)
	}
	if _, _, err := NewLogKey(testOrigin, priv[:10]); err == nil {
		t.Error("NewLogKey accepted a short key")
	}
	// Every key makes a working signer, including keys whose base64 holds
	// a '+' (about half of them).
	for i := range 64 {
		skey, vkey, err := NewLogKey(testOrigin, seedKey(byte(100+i)))
		if err != nil {
			t.Fatal(err)
		}
		signer, err := note.NewSigner(skey)
		if err != nil {
			t.Fatalf("key %d: %v (vkey %s)", i, err, vkey)
		}
		verifier, err := note.NewVerifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := note.Sign(&note.Note{Text: "x\n"}, signer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := note.Open(msg, note.VerifierList(verifier)); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
}
