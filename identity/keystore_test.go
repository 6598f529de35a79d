package identity

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"filippo.io/age"

	"brieftraeger/internal/testvec"
)

// testWorkFactor keeps scrypt fast in tests.
const testWorkFactor = 10

func TestKeystoreRoundTrip(t *testing.T) {
	for _, withRoot := range []bool{true, false} {
		ks, err := NewKeystore("washington", "laptop", withRoot)
		if err != nil {
			t.Fatal(err)
		}
		if (ks.Root != nil) != withRoot {
			t.Fatalf("withRoot=%v: Root = %v", withRoot, ks.Root)
		}
		sealed, err := ks.Seal("passphrase", testWorkFactor)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, ks.Sign.Seed()) || bytes.Contains(sealed, []byte(ks.Age.String())) {
			t.Fatal("sealed keystore holds a secret in clear")
		}
		if !bytes.Contains(sealed, []byte("\n-> scrypt ")) || !bytes.HasPrefix(sealed, []byte("age-encryption.org/v1\n")) {
			t.Fatalf("sealed keystore is not an age scrypt file:\n%q", sealed[:min(len(sealed), 120)])
		}
		got, err := OpenKeystore(sealed, "passphrase")
		if err != nil {
			t.Fatal(err)
		}
		if !keystoreEqual(got, ks) {
			t.Fatalf("withRoot=%v: round trip changed the keystore", withRoot)
		}
		e := got.DeviceEntry()
		if e.Name != "laptop" || !bytes.Equal(e.Key, ks.Sign.Public().(ed25519.PublicKey)) || e.Recipient != ks.Age.Recipient().String() {
			t.Fatalf("DeviceEntry = %+v", e)
		}
	}
}

func TestNewKeystoreNames(t *testing.T) {
	if _, err := NewKeystore("Washington", "laptop", false); err == nil {
		t.Error("bad party name accepted")
	}
	if _, err := NewKeystore("washington", "", false); err == nil {
		t.Error("empty device name accepted")
	}
}

func TestKeystoreWrongPassphrase(t *testing.T) {
	ks, err := NewKeystore("washington", "laptop", true)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := ks.Seal("right", testWorkFactor)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"wrong", "Right", "right ", ""} {
		_, err := OpenKeystore(sealed, p)
		if p == "" {
			if err == nil {
				t.Error("empty passphrase opened the keystore")
			}
			continue
		}
		if !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("passphrase %q: got %v, want ErrWrongPassphrase", p, err)
		}
	}
}

// TestKeystoreTamper flips every byte of a sealed keystore and asserts that
// it no longer opens.
func TestKeystoreTamper(t *testing.T) {
	ks, err := NewKeystore("washington", "laptop", true)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := ks.Seal("passphrase", testWorkFactor)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		if _, err := OpenKeystore(bad, "passphrase"); err == nil {
			t.Fatalf("flipped byte %d of %d went unnoticed", i, len(sealed))
		}
	}
	for _, bad := range [][]byte{sealed[:len(sealed)-1], append(bytes.Clone(sealed), 0), nil} {
		if _, err := OpenKeystore(bad, "passphrase"); err == nil {
			t.Fatalf("%d-byte variant opened", len(bad))
		}
	}
}

func TestKeystoreWorkFactor(t *testing.T) {
	ks, err := NewKeystore("washington", "laptop", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, wf := range []int{-1, 9, 23, 40} {
		if _, err := ks.Seal("p", wf); err == nil {
			t.Errorf("work factor %d accepted", wf)
		}
	}
	sealed, err := ks.Seal("p", 11)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(sealed, []byte(" 11\n")) {
		t.Error("work factor 11 is not in the scrypt stanza")
	}
}

func TestDecodeKeystore(t *testing.T) {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	root, sign := testvec.Seed("root"), testvec.Seed("sign")
	good := specKeystore("washington", "laptop", root, sign, id.String())
	ks, err := decodeKeystore(good)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ks.Root.Seed(), root) || !bytes.Equal(ks.Sign.Seed(), sign) || ks.Age.String() != id.String() {
		t.Fatal("decoded keystore differs")
	}
	noRoot, err := decodeKeystore(specKeystore("washington", "laptop", nil, sign, id.String()))
	if err != nil || noRoot.Root != nil {
		t.Fatalf("no root: %v, %v", noRoot, err)
	}
	bad := map[string][]byte{
		"empty":           nil,
		"version 0":       append([]byte{0}, good[1:]...),
		"version 2":       append([]byte{2}, good[1:]...),
		"trailing byte":   append(bytes.Clone(good), 0),
		"truncated":       good[:len(good)-1],
		"31-byte root":    specKeystore("washington", "laptop", root[:31], sign, id.String()),
		"33-byte root":    specKeystore("washington", "laptop", append(bytes.Clone(root), 0), sign, id.String()),
		"short sign seed": specKeystore("washington", "laptop", root, sign[:31], id.String()),
		"bad age key":     specKeystore("washington", "laptop", root, sign, id.String()[:20]),
		"x25519 age key":  specKeystore("washington", "laptop", root, sign, "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"),
	}
	for name, b := range bad {
		if _, err := decodeKeystore(b); err == nil {
			t.Errorf("%s: decoded", name)
		} else if !strings.HasPrefix(err.Error(), "failed to open keystore") {
			t.Errorf("%s: error %q lacks the prefix", name, err)
		}
	}
}
