package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"brieftraeger/internal/testvec"
)

var safetyNumberForm = regexp.MustCompile(`^[0-9]{4}( [0-9]{4}){15}$`)

func safetyNumber(t testing.TB, a string, ra ed25519.PublicKey, b string, rb ed25519.PublicKey) string {
	t.Helper()
	sn, err := SafetyNumber(a, ra, b, rb)
	if err != nil {
		t.Fatal(err)
	}
	if !safetyNumberForm.MatchString(sn) {
		t.Fatalf("safety number %q is not 16 groups of 4 digits", sn)
	}
	return sn
}

func TestSafetyNumberSameOnBothSides(t *testing.T) {
	w, th := testvec.Pub("washington-root-1"), testvec.Pub("tehran-root-1")
	ab := safetyNumber(t, "washington", w, "tehran", th)
	ba := safetyNumber(t, "tehran", th, "washington", w)
	if ab != ba {
		t.Fatalf("washington computes %q, tehran %q", ab, ba)
	}
}

// TestSafetyNumberChanges checks that a different key or name on either
// side changes the number, and in that side's half: a relay that swapped
// one key cannot keep the number.
func TestSafetyNumberChanges(t *testing.T) {
	w, th, m := testvec.Pub("washington-root-1"), testvec.Pub("tehran-root-1"), testvec.Pub("mallory-root")
	base := strings.Fields(safetyNumber(t, "tehran", th, "washington", w))
	for _, c := range []struct {
		name     string
		a        string
		ra       ed25519.PublicKey
		b        string
		rb       ed25519.PublicKey
		halfDiff int // 0: tehran's half (sorts first), 1: washington's
	}{
		{"washington's key", "tehran", th, "washington", m, 1},
		{"tehran's key", "tehran", m, "washington", w, 0},
		{"washington's name", "tehran", th, "washingtom", w, 1},
		{"tehran's name", "tehrat", th, "washington", w, 0},
		{"one bit of washington's key", "tehran", th, "washington", flipBit(w, 255), 1},
	} {
		got := strings.Fields(safetyNumber(t, c.a, c.ra, c.b, c.rb))
		for half := range 2 {
			same := slicesEqual(got[half*8:half*8+8], base[half*8:half*8+8])
			if same == (half == c.halfDiff) {
				t.Errorf("%s: half %d changed %v, want %v", c.name, half, !same, half == c.halfDiff)
			}
		}
	}
}

// TestSafetyNumberOrder checks that the pairs are sorted, so that swapping
// the keys between the names changes the number.
func TestSafetyNumberOrder(t *testing.T) {
	a, b := testvec.Pub("washington-root-1"), testvec.Pub("tehran-root-1")
	if safetyNumber(t, "tehran", a, "washington", b) == safetyNumber(t, "tehran", b, "washington", a) {
		t.Fatal("swapping the keys between the names kept the number")
	}
	// One party with itself (the same name twice) sorts by key.
	if safetyNumber(t, "w", a, "w", b) != safetyNumber(t, "w", b, "w", a) {
		t.Fatal("same name: the order of the arguments changed the number")
	}
}

func TestSafetyNumberRefusesBadInput(t *testing.T) {
	k := testvec.Pub("tehran-root-1")
	for _, c := range []struct {
		a, b   string
		ra, rb []byte
	}{
		{"Tehran", "washington", k, k},
		{"tehran", "", k, k},
		{"tehran", "washington", k[:31], k},
		{"tehran", "washington", k, append(bytes.Clone(k), 0)},
	} {
		if sn, err := SafetyNumber(c.a, c.ra, c.b, c.rb); err == nil {
			t.Errorf("SafetyNumber(%q, %d bytes, %q, %d bytes) = %q, want an error", c.a, len(c.ra), c.b, len(c.rb), sn)
		}
	}
}

func flipBit(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i/8] ^= 1 << (i % 8)
	return c
}

func slicesEqual(a, b []string) bool { return strings.Join(a, " ") == strings.Join(b, " ") }

// ---- vectors ----

type safetyFile struct {
	Comment string          `json:"comment"`
	Vectors []safetyVector  `json:"vectors"`
	Pins    []pinVector     `json:"pins"`
	Invalid []invalidPinVec `json:"invalid_pins"`
}

type safetyVector struct {
	PartyA       string           `json:"party_a"`
	RootA        testvec.HexBytes `json:"root_a"`
	PartyB       string           `json:"party_b"`
	RootB        testvec.HexBytes `json:"root_b"`
	SafetyNumber string           `json:"safety_number"`
}

type pinVector struct {
	Input       string           `json:"input"`
	Key         testvec.HexBytes `json:"key,omitempty"`
	Fingerprint string           `json:"fingerprint,omitempty"`
}

type invalidPinVec struct {
	Input  string `json:"input"`
	Reason string `json:"reason"`
}

func genSafetyVectors(t testing.TB) safetyFile {
	f := safetyFile{Comment: "Safety numbers: for each party, H = SHA-256(\"brieftraeger/v1 safety-number\\n\" || u8 len(name) || name || root key); " +
		"its 8 big-endian uint32 words, each mod 10000, are 8 groups of 4 decimal digits. The party whose name sorts first " +
		"(by bytes; the same name: the smaller key) gives the first 8 groups; groups are joined by one space. " +
		"Pins: what 'brief contact add' accepts, a base64 root key or a fingerprint in any case with ':' or ' ' anywhere."}
	pairs := [][2]string{{"washington", "tehran"}, {"tehran", "washington"}, {"washington", "mallory"}, {"a", "b"}}
	keys := map[string]string{"washington": "washington-root-1", "tehran": "tehran-root-1", "mallory": "mallory-root",
		"a": "washington-root-2", "b": "washington-laptop"}
	for _, p := range pairs {
		ra, rb := testvec.Pub(keys[p[0]]), testvec.Pub(keys[p[1]])
		f.Vectors = append(f.Vectors, safetyVector{PartyA: p[0], RootA: testvec.HexBytes(ra), PartyB: p[1], RootB: testvec.HexBytes(rb),
			SafetyNumber: safetyNumber(t, p[0], ra, p[1], rb)})
	}
	w := testvec.Pub("washington-root-1")
	fp := Fingerprint(w)
	for _, in := range []string{EncodePublicKey(w), fp, strings.ToUpper(fp), strings.ReplaceAll(fp, ":", ""),
		strings.ReplaceAll(fp, ":", " "), " " + strings.ReplaceAll(fp, ":", "  ") + " "} {
		pin, err := ParsePin(in)
		if err != nil {
			t.Fatalf("ParsePin(%q): %v", in, err)
		}
		f.Pins = append(f.Pins, pinVector{Input: in, Key: testvec.HexBytes(pin.Key), Fingerprint: pin.Fingerprint})
	}
	b64 := EncodePublicKey(w)
	for _, c := range []invalidPinVec{
		{fp[:len(fp)-1], "31 hex digits"},
		{fp + "0", "33 hex digits"},
		{strings.ReplaceAll(fp, ":", "-"), "'-' between the groups"},
		{fp[:len(fp)-1] + "g", "a letter past f"},
		{"\t" + fp, "a tab"},
		{b64[:len(b64)-4], "a key of 30 bytes"},
		{base64.StdEncoding.EncodeToString(append(bytes.Clone(w), 0)), "a key of 33 bytes"},
		{b64[:len(b64)-1], "base64 without its padding"},
		{"", "nothing"},
		{":: ::", "separators only"},
	} {
		if _, err := ParsePin(c.Input); err == nil {
			t.Fatalf("ParsePin(%q) accepted %s", c.Input, c.Reason)
		}
		f.Invalid = append(f.Invalid, c)
	}
	return f
}

// specSafetyNumber computes a safety number again from the comment in the
// vector file and docs/PROTOCOL.md.
func specSafetyNumber(a string, ra []byte, b string, rb []byte) string {
	if b < a || a == b && bytes.Compare(rb, ra) < 0 {
		a, ra, b, rb = b, rb, a, ra
	}
	var out []string
	for _, x := range []struct {
		name string
		key  []byte
	}{{a, ra}, {b, rb}} {
		h := testvec.SpecHash("brieftraeger/v1 safety-number", append(append([]byte{byte(len(x.name))}, x.name...), x.key...))
		for i := 0; i < 32; i += 4 {
			out = append(out, fmt.Sprintf("%04d", binary.BigEndian.Uint32(h[i:])%10000))
		}
	}
	return strings.Join(out, " ")
}

func TestSafetyNumberVectors(t *testing.T) {
	testvec.Sync(t, "safety-number.json", genSafetyVectors(t))
	if *testvec.Update {
		return
	}
	var f safetyFile
	testvec.Read(t, "safety-number.json", &f)
	for _, v := range f.Vectors {
		if want := specSafetyNumber(v.PartyA, v.RootA, v.PartyB, v.RootB); v.SafetyNumber != want {
			t.Errorf("%s, %s: file has %q, the spec gives %q", v.PartyA, v.PartyB, v.SafetyNumber, want)
		}
		if got := safetyNumber(t, v.PartyA, ed25519.PublicKey(v.RootA), v.PartyB, ed25519.PublicKey(v.RootB)); got != v.SafetyNumber {
			t.Errorf("%s, %s: SafetyNumber = %q, want %q", v.PartyA, v.PartyB, got, v.SafetyNumber)
		}
	}
	for _, v := range f.Pins {
		pin, err := ParsePin(v.Input)
		if err != nil || !bytes.Equal(pin.Key, v.Key) || pin.Fingerprint != v.Fingerprint {
			t.Errorf("ParsePin(%q) = %x %q %v", v.Input, pin.Key, pin.Fingerprint, err)
		}
	}
	for _, v := range f.Invalid {
		if _, err := ParsePin(v.Input); err == nil {
			t.Errorf("ParsePin(%q) accepted %s", v.Input, v.Reason)
		}
	}
}

func TestSafetyNumberContextDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte("`"+ContextSafetyNumber+"`")) {
		t.Errorf("docs/PROTOCOL.md does not list context %q", ContextSafetyNumber)
	}
	for _, c := range []string{ContextRoster, ContextRosterHash, ContextFingerprint, ContextJoinRequest} {
		if c == ContextSafetyNumber {
			t.Errorf("context %q is used twice", c)
		}
	}
}

// ---- parsing what users type ----

func TestParsePinErrorsSayWhatToDo(t *testing.T) {
	w := testvec.Pub("washington-root-1")
	fp, b64 := Fingerprint(w), EncodePublicKey(w)
	for _, c := range []struct{ in, want string }{
		{fp[:len(fp)-1], "a fingerprint is 32 hex digits (0-9, a-f) in groups of four, as 'brief party show' prints it; this has 31"},
		{b64[:len(b64)-4], "a root key is 32 bytes (44 characters of base64), this is 30 bytes; copy it again, whole"},
		{"washington", "is neither a fingerprint (32 hex digits, e.g. 1a2b:3c4d:…) nor a root key (44 characters of base64)"},
	} {
		_, err := ParsePin(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParsePin(%q) = %v, want an error with %q", c.in, err, c.want)
		}
	}
}

// FuzzParsePin parses arbitrary text as a pin. A fingerprint it accepts
// is the canonical form of exactly the hex digits of the input; a key it
// accepts encodes back to exactly the input.
func FuzzParsePin(f *testing.F) {
	var kf keyFile
	testvec.Read(f, "keys.json", &kf)
	for _, k := range kf.Keys {
		f.Add(k.Text)
		f.Add(k.Fingerprint)
		f.Add(strings.ToUpper(strings.ReplaceAll(k.Fingerprint, ":", " ")))
	}
	var sf safetyFile
	testvec.Read(f, "safety-number.json", &sf)
	for _, v := range sf.Invalid {
		f.Add(v.Input)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pin, err := ParsePin(s)
		if err != nil {
			return
		}
		if (pin.Key == nil) == (pin.Fingerprint == "") {
			t.Fatalf("ParsePin(%q) set both or neither: %+v", s, pin)
		}
		if pin.Key != nil {
			if len(pin.Key) != ed25519.PublicKeySize || EncodePublicKey(pin.Key) != s {
				t.Fatalf("ParsePin(%q) = key %x, which encodes to %q", s, pin.Key, EncodePublicKey(pin.Key))
			}
			return
		}
		digits := strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(s))
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(digits) {
			t.Fatalf("ParsePin(%q) accepted a fingerprint whose digits are %q", s, digits)
		}
		if strings.ReplaceAll(pin.Fingerprint, ":", "") != digits || !regexp.MustCompile(`^[0-9a-f]{4}(:[0-9a-f]{4}){7}$`).MatchString(pin.Fingerprint) {
			t.Fatalf("ParsePin(%q) = fingerprint %q", s, pin.Fingerprint)
		}
		again, err := ParsePin(pin.Fingerprint)
		if err != nil || again.Fingerprint != pin.Fingerprint {
			t.Fatalf("canonical form %q does not parse back: %v", pin.Fingerprint, err)
		}
	})
}
