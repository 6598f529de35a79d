package tlog

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"
)

func FuzzParseCheckpoint(f *testing.F) {
	cp, v := testCheckpoint(f, 7)
	line, err := Cosign(cp, testWitness, seedKey(0x20), time.Unix(1767225600, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cp)
	f.Add(append(bytes.Clone(cp), line...))
	f.Add([]byte("brieftraeger.test/log\n1\nAAAA\n\n— x AAAAAAA=\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, err := ParseCheckpoint(msg, testOrigin, v)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(msg, c.Body()) || msg[len(c.Body())] != '\n' {
			t.Fatalf("accepted checkpoint %q does not start with its body %q", msg, c.Body())
		}
	})
}

func FuzzParseProof(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 32))
	f.Add(make([]byte, 33))
	f.Add(make([]byte, 64*32))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseProof(b)
		if err != nil {
			return
		}
		if !bytes.Equal(MarshalProof(p), b) {
			t.Fatal("MarshalProof(ParseProof(b)) != b")
		}
	})
}

func FuzzVerifyCosignature(f *testing.F) {
	cp, _ := testCheckpoint(f, 7)
	key := seedKey(0x20)
	pub := key.Public().(ed25519.PublicKey)
	when := time.Unix(1767225600, 0)
	line, err := Cosign(cp, testWitness, key, when)
	if err != nil {
		f.Fatal(err)
	}
	cosigned := append(bytes.Clone(cp), line...)
	f.Add(cosigned)
	f.Add(cp)
	f.Add(append(bytes.Clone(cosigned), line...))
	f.Fuzz(func(t *testing.T, msg []byte) {
		got, err := VerifyCosignature(msg, testWitness, pub)
		if err != nil {
			return
		}
		// Only the seed's body was ever cosigned.
		text, err := noteText(msg)
		if err != nil || !bytes.HasPrefix(cosigned, text) {
			t.Fatalf("cosignature verified on a body never signed: %q", msg)
		}
		if !got.Equal(when) {
			t.Fatalf("time %v, want %v", got, when)
		}
	})
}
