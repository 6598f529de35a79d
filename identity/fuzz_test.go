package identity

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"brieftraeger/internal/testvec"
)

// FuzzParseRoster parses arbitrary bytes as a signed roster. Whatever
// decodes must re-encode to exactly the input, and whatever ParseRoster
// accepts must carry a valid signature by its own root.
func FuzzParseRoster(f *testing.F) {
	var vf rosterFile
	testvec.Read(f, "roster.json", &vf)
	for _, v := range vf.Vectors {
		f.Add([]byte(v.Encoding))
	}
	for _, v := range vf.Invalid {
		f.Add([]byte(v.Encoding))
	}
	// A small roster (one device, one epoch) gives the fuzzer less to
	// chew through than the vectors do.
	small := testRoster(f, "w", "root-a", 1, nil)
	if err := small.Sign(testvec.Key("root-a")); err != nil {
		f.Fatal(err)
	}
	f.Add(small.Raw)
	f.Add([]byte{})
	f.Add(make([]byte, 64))
	f.Add(append([]byte{RosterVersion}, make([]byte, 200)...))

	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRoster(data)
		if err != nil {
			if _, err := ParseRoster(data, nil); err == nil {
				t.Fatal("ParseRoster accepted what decodeRoster refused")
			}
			return
		}
		if !bytes.Equal(r.Raw, data) || !bytes.Equal(r.Sig, data[len(data)-ed25519.SignatureSize:]) {
			t.Fatal("Raw or Sig differ from the input")
		}
		body, err := r.body()
		if err != nil {
			t.Fatalf("decoded roster does not re-encode: %v", err)
		}
		if !bytes.Equal(append(body, r.Sig...), data) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", body, data)
		}
		r2, err := decodeRoster(r.Raw)
		if err != nil || !rosterEqual(r, r2) {
			t.Fatalf("re-parse differs: %v", err)
		}
		if _, err := ParseRoster(data, nil); err == nil {
			if r.Serial != 1 || !Verify(r.Root, ContextRoster, body, r.Sig) {
				t.Fatal("ParseRoster accepted a roster not signed by its own root")
			}
		}
		// As the successor of itself, nothing may parse.
		if _, err := ParseRoster(data, r); err == nil {
			t.Fatal("a roster parsed as its own successor")
		}
	})
}

// FuzzDecodeKeystore decodes arbitrary bytes as the inside of a sealed
// keystore. Whatever decodes must re-encode to exactly the input and
// decode again to the same keys.
func FuzzDecodeKeystore(f *testing.F) {
	var vf keystoreFile
	testvec.Read(f, "keystore.json", &vf)
	for _, v := range vf.Vectors {
		f.Add([]byte(v.Plaintext))
	}
	f.Add([]byte{KeystoreVersion})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := decodeKeystore(data)
		if err != nil {
			return
		}
		var root []byte
		if ks.Root != nil {
			root = ks.Root.Seed()
		}
		enc := specKeystore(ks.Party, ks.Device, root, ks.Sign.Seed(), ks.Age.String())
		ks2, err := decodeKeystore(enc)
		if err != nil || !keystoreEqual(ks, ks2) {
			t.Fatalf("re-encoding decodes differently: %v", err)
		}
		if !bytes.Equal(enc, data) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", enc, data)
		}
	})
}
