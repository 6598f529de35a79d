// Package testvec holds what the test-vector tests of identity, envelope
// and letter share: the -update flag, the vector folder, hex-encoded bytes
// in JSON, fixed keys and filler bytes, and reading and checking vector
// files. It is imported only by tests.
package testvec

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// Update is the -update flag: rewrite the vector files from the generators
// in the tests instead of checking them.
var Update = flag.Bool("update", false, "rewrite ../testdata/vectors from the generators in the tests")

// Dir is the vector folder, relative to a package folder.
const Dir = "../testdata/vectors"

// HexBytes is a byte string that JSON carries as lowercase hex.
type HexBytes []byte

// MarshalText encodes h as lowercase hex.
func (h HexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

// UnmarshalText decodes hex.
func (h *HexBytes) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	*h = d
	return err
}

// Seed is the fixed Ed25519 seed named label:
// SHA-256("brieftraeger test seed " || label).
func Seed(label string) HexBytes {
	s := sha256.Sum256([]byte("brieftraeger test seed " + label))
	return s[:]
}

// Key is the Ed25519 key of Seed(label).
func Key(label string) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(Seed(label)) }

// Pub is the public key of Key(label).
func Pub(label string) ed25519.PublicKey { return Key(label).Public().(ed25519.PublicKey) }

// Bytes returns n filler bytes: SHA-256(label || counter) blocks, the
// counter a big-endian uint32 from 0.
func Bytes(label string, n int) HexBytes {
	var out []byte
	for i := uint32(0); len(out) < n; i++ {
		h := sha256.Sum256(binary.BigEndian.AppendUint32([]byte(label), i))
		out = append(out, h[:]...)
	}
	return out[:n]
}

// Marshal encodes v as the vector files are written: indented with tabs,
// with a final newline.
func Marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// Read loads a vector file into v. It reports false if the file does not
// exist and -update is set, so that a generator can start afresh.
func Read(t testing.TB, name string, v any) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir, name))
	if errors.Is(err, os.ErrNotExist) && *Update {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return true
}

// Sync writes gen to the named file with -update, and otherwise fails
// unless the file holds exactly gen.
func Sync(t testing.TB, name string, gen any) {
	t.Helper()
	want := Marshal(t, gen)
	path := filepath.Join(Dir, name)
	if *Update {
		if err := os.MkdirAll(Dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the generator builds from the same inputs; "+
			"if the layout change is intended, run go test -update and update docs/PROTOCOL.md", path)
	}
}

// SpecSign signs as the protocol does, written again from docs/PROTOCOL.md
// for the tests' independent encoders: Ed25519 over context || "\n" || msg.
func SpecSign(key ed25519.PrivateKey, context string, msg []byte) []byte {
	return ed25519.Sign(key, append([]byte(context+"\n"), msg...))
}

// SpecHash hashes as the protocol does: SHA-256(context || "\n" || data).
func SpecHash(context string, data []byte) []byte {
	h := sha256.Sum256(append([]byte(context+"\n"), data...))
	return h[:]
}
