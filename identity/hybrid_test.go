package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"testing"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"

	"brieftraeger/internal/testvec"
)

type hybridFile struct {
	Comment string         `json:"comment"`
	Vectors []hybridVector `json:"vectors"`
}

type hybridVector struct {
	Seed      testvec.HexBytes `json:"seed"`
	Context   string           `json:"context"`
	Message   testvec.HexBytes `json:"message"`
	PublicKey testvec.HexBytes `json:"public_key"`
	Signature testvec.HexBytes `json:"signature"`
}

func testHybridKey(t testing.TB, label string) *HybridPrivateKey {
	k, err := NewHybridKey([HybridSeedSize]byte(testvec.Seed(label)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func genHybridVectors(t testing.TB) hybridFile {
	f := hybridFile{Comment: "Hybrid Ed25519 + ML-DSA-65 signatures. See docs/PROTOCOL.md, section Hybrid signatures. " +
		"Seeds are SHA-256(\"brieftraeger test seed \" || label); ML-DSA-65 signs deterministically."}
	for _, c := range []struct{ label, context, msg string }{
		{"washington-root-1", ContextRoster, "a roster body"},
		{"relay-receipts", "brieftraeger/v1 receipt", ""},
	} {
		k := testHybridKey(t, c.label)
		f.Vectors = append(f.Vectors, hybridVector{Seed: testvec.Seed(c.label), Context: c.context, Message: []byte(c.msg),
			PublicKey: testvec.HexBytes(k.Public()), Signature: SignHybrid(k, c.context, []byte(c.msg))})
	}
	return f
}

// specHybrid signs as docs/PROTOCOL.md says, with the schemes' own APIs.
func specHybrid(seed []byte, context string, msg []byte) (pub, sig []byte) {
	edSeed, _ := hkdf.Key(sha256.New, seed, nil, "brieftraeger/v1 hybrid-signature ed25519", 32)
	mlSeed, _ := hkdf.Key(sha256.New, seed, nil, "brieftraeger/v1 hybrid-signature ml-dsa-65", 32)
	ed := ed25519.NewKeyFromSeed(edSeed)
	mlPub, mlPriv := mldsa65.NewKeyFromSeed((*[32]byte)(mlSeed))
	m := append([]byte("brieftraeger/v1 hybrid-signature\n"+context+"\n"), msg...)
	mlSig := make([]byte, mldsa65.SignatureSize)
	if err := mldsa65.SignTo(mlPriv, m, nil, false, mlSig); err != nil {
		panic(err)
	}
	return append(ed.Public().(ed25519.PublicKey), mlPub.Bytes()...), append(ed25519.Sign(ed, m), mlSig...)
}

func TestHybridVectors(t *testing.T) {
	testvec.Sync(t, "hybrid-signature.json", genHybridVectors(t))
	var f hybridFile
	testvec.Read(t, "hybrid-signature.json", &f)
	for _, v := range f.Vectors {
		pub, sig := specHybrid(v.Seed, v.Context, v.Message)
		if !bytes.Equal(pub, v.PublicKey) || !bytes.Equal(sig, v.Signature) {
			t.Errorf("%s: key or signature differs from one made as PROTOCOL.md says", v.Context)
		}
		if !VerifyHybrid(HybridPublicKey(v.PublicKey), v.Context, v.Message, v.Signature) {
			t.Errorf("%s: vector does not verify", v.Context)
		}
		if _, err := ParseHybridPublicKey(v.PublicKey); err != nil {
			t.Error(err)
		}
	}
}

// Both halves are required: a change to either fails, a half is no
// signature of the plain scheme, and the context is bound.
func TestHybridTamper(t *testing.T) {
	k := testHybridKey(t, "tamper")
	msg := []byte("receipt body")
	sig := SignHybrid(k, "ctx-a", msg)
	if !VerifyHybrid(k.Public(), "ctx-a", msg, sig) {
		t.Fatal("a good signature failed")
	}
	for _, i := range []int{0, 63, 64, 1000, len(sig) - 1} {
		bad := bytes.Clone(sig)
		bad[i] ^= 1
		if VerifyHybrid(k.Public(), "ctx-a", msg, bad) {
			t.Fatalf("flipping signature byte %d was accepted", i)
		}
	}
	for _, i := range []int{0, 31, 32, len(k.Public()) - 1} {
		bad := bytes.Clone(k.Public())
		bad[i] ^= 1
		if VerifyHybrid(bad, "ctx-a", msg, sig) {
			t.Fatalf("flipping public key byte %d was accepted", i)
		}
	}
	if VerifyHybrid(k.Public(), "ctx-b", msg, sig) || VerifyHybrid(k.Public(), "ctx-a", append(msg, 0), sig) {
		t.Fatal("another context or message was accepted")
	}
	edPub := ed25519.PublicKey(k.Public()[:ed25519.PublicKeySize])
	if Verify(edPub, "ctx-a", msg, sig[:ed25519.SignatureSize]) {
		t.Fatal("the Ed25519 half is a plain signature of the message")
	}
	if VerifyHybrid(k.Public(), "ctx-a", msg, sig[:len(sig)-1]) || VerifyHybrid(k.Public()[:100], "ctx-a", msg, sig) {
		t.Fatal("wrong lengths accepted")
	}
	other := testHybridKey(t, "other")
	mixed := append(bytes.Clone(sig[:ed25519.SignatureSize]), SignHybrid(other, "ctx-a", msg)[ed25519.SignatureSize:]...)
	if VerifyHybrid(k.Public(), "ctx-a", msg, mixed) {
		t.Fatal("an ML-DSA half by another key was accepted")
	}
}

// FuzzParseHybridPublicKey: whatever parses is kept byte for byte.
func FuzzParseHybridPublicKey(f *testing.F) {
	f.Add([]byte(testHybridKey(f, "fuzz").Public()))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseHybridPublicKey(b)
		if err == nil && !bytes.Equal(k, b) {
			t.Fatal("parsed key differs from its input")
		}
	})
}

// BenchmarkSignatures measures the hybrid signature next to Ed25519
// alone, its ceiling.
func BenchmarkSignatures(b *testing.B) {
	k := testHybridKey(b, "bench")
	ed := testvec.Key("bench")
	msg := bytes.Repeat([]byte("r"), 200)
	hsig, esig := SignHybrid(k, "c", msg), Sign(ed, "c", msg)
	b.Run("ed25519/sign", func(b *testing.B) {
		for b.Loop() {
			Sign(ed, "c", msg)
		}
	})
	b.Run("hybrid/sign", func(b *testing.B) {
		for b.Loop() {
			SignHybrid(k, "c", msg)
		}
	})
	b.Run("ed25519/verify", func(b *testing.B) {
		for b.Loop() {
			Verify(ed.Public().(ed25519.PublicKey), "c", msg, esig)
		}
	})
	b.Run("hybrid/verify", func(b *testing.B) {
		for b.Loop() {
			VerifyHybrid(k.Public(), "c", msg, hsig)
		}
	})
}
