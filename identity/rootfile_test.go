package identity

import (
	"bytes"
	"errors"
	"testing"

	"brieftraeger/internal/testvec"
)

type rootFileVectors struct {
	Comment string           `json:"comment"`
	Vectors []rootFileVector `json:"vectors"`
}

type rootFileVector struct {
	Party      string           `json:"party"`
	RootSeed   testvec.HexBytes `json:"root_seed"`
	Plaintext  testvec.HexBytes `json:"plaintext"`
	Passphrase string           `json:"passphrase"`
	WorkFactor int              `json:"work_factor"`
	Sealed     testvec.HexBytes `json:"sealed"`
}

func genRootFileVectors(t testing.TB) rootFileVectors {
	var old rootFileVectors
	testvec.Read(t, "root-key-file.json", &old)
	f := rootFileVectors{Comment: "Root key files: plaintext is the inner layout (docs/PROTOCOL.md, section Root key file); " +
		"sealed is an age file with one scrypt stanza at work factor 10 whose payload is plaintext. " +
		"Sealing is randomized, so sealed is kept from run to run while it still opens to plaintext."}
	v := rootFileVector{Party: "washington", RootSeed: testvec.Seed("washington-root-1"), Passphrase: "correct horse battery staple", WorkFactor: 10}
	sealed, err := SealRootKey(v.Party, testvec.Key("washington-root-1"), v.Passphrase, v.WorkFactor)
	if err != nil {
		t.Fatal(err)
	}
	v.Plaintext, v.Sealed = decryptScrypt(sealed, v.Passphrase), sealed
	for _, o := range old.Vectors {
		if bytes.Equal(decryptScrypt(o.Sealed, v.Passphrase), v.Plaintext) {
			v.Sealed = o.Sealed
		}
	}
	f.Vectors = append(f.Vectors, v)
	return f
}

func TestRootFileVectors(t *testing.T) {
	testvec.Sync(t, "root-key-file.json", genRootFileVectors(t))
	if *testvec.Update {
		return
	}
	var f rootFileVectors
	testvec.Read(t, "root-key-file.json", &f)
	for _, v := range f.Vectors {
		want := append(specStr8([]byte{RootFileVersion}, v.Party), v.RootSeed...)
		if !bytes.Equal(v.Plaintext, want) || !bytes.Equal(decryptScrypt(v.Sealed, v.Passphrase), want) {
			t.Errorf("%s: plaintext does not follow docs/PROTOCOL.md", v.Party)
		}
		party, root, err := OpenRootKey(v.Sealed, v.Passphrase)
		if err != nil || party != v.Party || !bytes.Equal(root.Seed(), v.RootSeed) {
			t.Fatalf("%s: opened %q, %v", v.Party, party, err)
		}
		if _, _, err := OpenRootKey(v.Sealed, v.Passphrase+"!"); !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("wrong passphrase: %v", err)
		}
	}
}

// A root key file changed anywhere does not open.
func TestRootFileTamper(t *testing.T) {
	sealed, err := SealRootKey("washington", testvec.Key("r"), "pass phrase here", 10)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(sealed); i += 7 {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x04
		if _, _, err := OpenRootKey(bad, "pass phrase here"); err == nil {
			t.Fatalf("flipping byte %d was accepted", i)
		}
	}
	if _, err := SealRootKey("Washington", testvec.Key("r"), "x", 10); err == nil {
		t.Fatal("sealed for an invalid party name")
	}
}

// FuzzDecodeRootFile parses arbitrary plaintext as a root key file's:
// whatever parses re-encodes to exactly its input.
func FuzzDecodeRootFile(f *testing.F) {
	var vf rootFileVectors
	testvec.Read(f, "root-key-file.json", &vf)
	for _, v := range vf.Vectors {
		f.Add([]byte(v.Plaintext))
	}
	f.Add([]byte{RootFileVersion, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		party, root, err := decodeRootFile(data)
		if err != nil {
			return
		}
		if want := append(specStr8([]byte{RootFileVersion}, party), root.Seed()...); !bytes.Equal(want, data) {
			t.Fatal("a parsed root key file does not re-encode to its input")
		}
	})
}
