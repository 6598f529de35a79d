package tlog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

const testWitness = "brieftraeger.test/witness/alice"

func testCheckpoint(t testing.TB, size int) ([]byte, note.Verifier) {
	t.Helper()
	s, v, _ := testLogKey(t, testOrigin, 1)
	tr := testTree(t, testLeaves(size))
	root, _ := tr.Root(uint64(size))
	msg, err := Sign(testOrigin, uint64(size), root, s)
	if err != nil {
		t.Fatal(err)
	}
	return msg, v
}

func TestCosignRoundTrip(t *testing.T) {
	cp, logV := testCheckpoint(t, 9)
	key := seedKey(0x20)
	pub := key.Public().(ed25519.PublicKey)
	when := time.Unix(1767225600, 0)
	line, err := Cosign(cp, testWitness, key, when)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(line), "— "+testWitness+" ") || !strings.HasSuffix(string(line), "\n") {
		t.Fatalf("line %q", line)
	}
	cosigned := append(bytes.Clone(cp), line...)
	got, err := VerifyCosignature(cosigned, testWitness, pub)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(when) {
		t.Fatalf("time %v, want %v", got, when)
	}
	// The log's own signature still verifies on the cosigned note.
	if _, err := ParseCheckpoint(cosigned, testOrigin, logV); err != nil {
		t.Fatalf("cosigned checkpoint refused: %v", err)
	}
	// The plain checkpoint carries no cosignature.
	if _, err := VerifyCosignature(cp, testWitness, pub); err == nil {
		t.Error("uncosigned checkpoint accepted")
	}
	// Another witness key or name.
	if _, err := VerifyCosignature(cosigned, testWitness, seedKey(0x21).Public().(ed25519.PublicKey)); err == nil {
		t.Error("cosignature accepted for another key")
	}
	if _, err := VerifyCosignature(cosigned, "brieftraeger.test/witness/bob", pub); err == nil {
		t.Error("cosignature accepted for another name")
	}
	// Every single-byte change is refused, except in the log's own
	// signature line, which the cosignature does not cover.
	text, _ := noteText(cp)
	for i := range cosigned {
		if i > len(text) && i < len(cp) {
			continue
		}
		bad := bytes.Clone(cosigned)
		bad[i] ^= 0x01
		if _, err := VerifyCosignature(bad, testWitness, pub); err == nil {
			t.Fatalf("tampered cosigned checkpoint (byte %d) accepted: %q", i, bad)
		}
	}
	// A cosignature moved to another checkpoint is refused.
	cp2, _ := testCheckpoint(t, 10)
	if _, err := VerifyCosignature(append(bytes.Clone(cp2), line...), testWitness, pub); err == nil {
		t.Error("cosignature accepted on another checkpoint")
	}
	// Bad inputs to Cosign.
	if _, err := Cosign(cp, "bad name", key, when); err == nil {
		t.Error("Cosign accepted a bad name")
	}
	if _, err := Cosign(cp, testWitness, key[:5], when); err == nil {
		t.Error("Cosign accepted a bad key")
	}
	if _, err := Cosign(cp, testWitness, key, time.Unix(-1, 0)); err == nil {
		t.Error("Cosign accepted a time before 1970")
	}
	if _, err := Cosign([]byte("not a note"), testWitness, key, when); err == nil {
		t.Error("Cosign accepted a non-note")
	}
	notCP, _ := note.Sign(&note.Note{Text: "hello\n"}, mustSigner(t))
	if _, err := Cosign(notCP, testWitness, key, when); err == nil {
		t.Error("Cosign accepted a note that is not a checkpoint")
	}
}

func mustSigner(t testing.TB) note.Signer {
	s, _, _ := testLogKey(t, testOrigin, 1)
	return s
}

// cosigSigner signs as a cosigner through x/mod's note.Sign, to check that
// Cosign makes the line the signed-note library itself would make.
type cosigSigner struct {
	name string
	key  ed25519.PrivateKey
	t    uint64
}

func (s cosigSigner) Name() string { return s.name }
func (s cosigSigner) KeyHash() uint32 {
	return cosignerKeyHash(s.name, s.key.Public().(ed25519.PublicKey))
}
func (s cosigSigner) Sign(msg []byte) ([]byte, error) {
	sig := binary.BigEndian.AppendUint64(nil, s.t)
	return append(sig, ed25519.Sign(s.key, cosignedMessage(s.t, msg))...), nil
}

func TestCosignMatchesNoteLibrary(t *testing.T) {
	cp, logV := testCheckpoint(t, 5)
	key := seedKey(0x20)
	line, err := Cosign(cp, testWitness, key, time.Unix(1679315147, 0))
	if err != nil {
		t.Fatal(err)
	}
	text, _ := noteText(cp)
	viaNote, err := note.Sign(&note.Note{Text: string(text)}, cosigSigner{testWitness, key, 1679315147})
	if err != nil {
		t.Fatal(err)
	}
	if want := string(text) + "\n" + string(line); string(viaNote) != want {
		t.Fatalf("note.Sign made\n%s\nCosign made\n%s", viaNote, want)
	}
	// The verifier key round-trips and works with note.Open, next to the log key.
	vkey, err := CosignerVerifierKey(testWitness, key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	name, pub, v, err := ParseCosignerVerifierKey(vkey)
	if err != nil || name != testWitness || !pub.Equal(key.Public()) {
		t.Fatalf("ParseCosignerVerifierKey(%q) = %q, %x, %v", vkey, name, pub, err)
	}
	n, err := note.Open(append(bytes.Clone(cp), line...), note.VerifierList(logV, v))
	if err != nil || len(n.Sigs) != 2 {
		t.Fatalf("note.Open: %v, %d sigs", err, len(n.Sigs))
	}
	for _, bad := range []string{
		"", vkey + "x", strings.Replace(vkey, "+", "-", 1),
		strings.Replace(vkey, testWitness, "brieftraeger.test/witness/bob", 1), // key ID mismatch
	} {
		if _, _, _, err := ParseCosignerVerifierKey(bad); err == nil {
			t.Errorf("ParseCosignerVerifierKey(%q) accepted", bad)
		}
	}
	// x/mod's own verifier-key parser does not know algorithm 0x04.
	if _, err := note.NewVerifier(vkey); err == nil {
		t.Log("note.NewVerifier now accepts cosigner keys")
	}
}

// TestCosignatureSpecExample checks the byte layout against the example in
// C2SP tlog-cosignature, whose cosignature by witness.example.com/w1 states
// "time 1679315147". The witness key is not published, so the signature
// itself cannot be checked.
func TestCosignatureSpecExample(t *testing.T) {
	const b64 = "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 4+cosigSigSize {
		t.Fatalf("spec cosignature is %d bytes, want %d", len(raw), 4+cosigSigSize)
	}
	if ts := binary.BigEndian.Uint64(raw[4:12]); ts != 1679315147 {
		t.Fatalf("spec cosignature time %d", ts)
	}
	want := "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
	got := cosignedMessage(1679315147, []byte("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"))
	if string(got) != want {
		t.Fatalf("signed message %q, want %q", got, want)
	}
}
