package envelope

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"brieftraeger/identity"

	"brieftraeger/internal/testvec"
)

func testHeader() *Header {
	h := &Header{ID: ID{1, 2, 3}, From: "washington", Device: "laptop", To: "tehran", Epoch: 7,
		Precedence: Immediate, Size: 4321}
	h.Digest = identity.Hash(ContextCiphertext, []byte("ciphertext"))
	return h
}

func signedHeader(t testing.TB) *Header {
	t.Helper()
	h := testHeader()
	if err := h.Sign(testvec.Key("washington-laptop")); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHeaderRoundTrip(t *testing.T) {
	h := signedHeader(t)
	got, err := Parse(h.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if !headerEqual(got, h) {
		t.Fatalf("round trip changed the header:\n got %+v\nwant %+v", got, h)
	}
	if err := got.Verify(testvec.Pub("washington-laptop")); err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(testvec.Pub("tehran-laptop")); err == nil || !strings.Contains(err.Error(), "bad signature") {
		t.Fatalf("other key: %v", err)
	}
	raw := bytes.Clone(h.Raw)
	p, _ := Parse(raw)
	clear(raw)
	if !bytes.Equal(p.Raw, h.Raw) || !bytes.Equal(p.Sig, h.Sig) {
		t.Fatal("parsed header aliases its input")
	}
}

// TestHeaderTamper flips every bit of a signed header: each must be refused
// by Parse or by Verify, and the envelope hash must change.
func TestHeaderTamper(t *testing.T) {
	h := signedHeader(t)
	pub := testvec.Pub("washington-laptop")
	for i := range h.Raw {
		for bit := range 8 {
			bad := bytes.Clone(h.Raw)
			bad[i] ^= 1 << bit
			p, err := Parse(bad)
			if err != nil {
				continue
			}
			if p.Verify(pub) == nil {
				t.Fatalf("bit %d of byte %d flipped: header still verifies", bit, i)
			}
			if p.Hash() == h.Hash() {
				t.Fatalf("bit %d of byte %d flipped: same envelope hash", bit, i)
			}
		}
	}
	for _, bad := range [][]byte{h.Raw[:len(h.Raw)-1], append(bytes.Clone(h.Raw), 0), nil} {
		if p, err := Parse(bad); err == nil && p.Verify(pub) == nil {
			t.Fatalf("%d-byte variant verified", len(bad))
		}
	}
	// A signature under another context does not verify.
	body := h.Raw[:len(h.Raw)-64]
	for _, ctx := range []string{ContextReceipt, ContextEnvelopeHash, identity.ContextRoster, "brieftraeger/v1 letter-header"} {
		forged := append(bytes.Clone(body), identity.Sign(testvec.Key("washington-laptop"), ctx, body)...)
		p, err := Parse(forged)
		if err != nil {
			t.Fatal(err)
		}
		if p.Verify(pub) == nil {
			t.Fatalf("signature under context %q verified", ctx)
		}
	}
}

func TestHeaderSignRefuses(t *testing.T) {
	for name, edit := range map[string]func(h *Header){
		"bad from":       func(h *Header) { h.From = "Washington" },
		"empty from":     func(h *Header) { h.From = "" },
		"bad device":     func(h *Header) { h.Device = "-laptop" },
		"long device":    func(h *Header) { h.Device = strings.Repeat("d", 33) },
		"bad to":         func(h *Header) { h.To = "teh ran" },
		"precedence 4":   func(h *Header) { h.Precedence = 4 },
		"precedence 255": func(h *Header) { h.Precedence = 255 },
	} {
		h := testHeader()
		edit(h)
		if err := h.Sign(testvec.Key("washington-laptop")); err == nil {
			t.Errorf("%s: signed", name)
		}
		if h.Raw != nil || h.Sig != nil {
			t.Errorf("%s: Raw or Sig set on failure", name)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	h := signedHeader(t)
	body := h.Raw[:len(h.Raw)-64]
	resign := func(b []byte) []byte {
		return append(b, identity.Sign(testvec.Key("washington-laptop"), ContextEnvelope, b)...)
	}
	for name, raw := range map[string][]byte{
		"empty":         nil,
		"63 bytes":      make([]byte, 63),
		"signature":     h.Sig,
		"too long":      append(resign(bytes.Clone(body)), make([]byte, MaxHeaderLen)...),
		"version 0":     resign(append([]byte{0}, body[1:]...)),
		"version 2":     resign(append([]byte{2}, body[1:]...)),
		"trailing byte": resign(append(bytes.Clone(body), 0)),
		"short digest":  resign(bytes.Clone(body[:len(body)-1])),
		"long from":     resign(append(append([]byte{1}, body[1:17]...), append([]byte{200}, body[18:]...)...)),
	} {
		if _, err := Parse(raw); err == nil {
			t.Errorf("%s: parsed", name)
		} else if !strings.HasPrefix(err.Error(), "malformed envelope") {
			t.Errorf("%s: error %q lacks the prefix", name, err)
		}
	}
}

// TestVerifyUnsigned checks that Verify on a header that was never signed
// or parsed reports an error instead of panicking.
func TestVerifyUnsigned(t *testing.T) {
	if err := testHeader().Verify(testvec.Pub("washington-laptop")); err == nil {
		t.Fatal("unsigned header verified")
	}
	if err := (&Receipt{}).Verify(testvec.Pub("washington-laptop")); err == nil {
		t.Fatal("unsigned receipt verified")
	}
}

func TestFraming(t *testing.T) {
	h := signedHeader(t)
	ct := testvec.Bytes("ct", 77)
	var buf bytes.Buffer
	if err := WriteHeader(&buf, h); err != nil {
		t.Fatal(err)
	}
	if got := buf.Bytes(); binary.BigEndian.Uint16(got) != uint16(len(h.Raw)) || !bytes.Equal(got[2:], h.Raw) {
		t.Fatalf("framing is not uint16 length || header: %x", got)
	}
	buf.Write(ct)
	stream := buf.Bytes()
	for name, r := range map[string]io.Reader{
		"whole":    bytes.NewReader(stream),
		"one byte": iotest.OneByteReader(bytes.NewReader(stream)),
		"half":     iotest.HalfReader(bytes.NewReader(stream)),
	} {
		got, err := ReadHeader(r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !headerEqual(got, h) {
			t.Fatalf("%s: header differs", name)
		}
		rest, _ := io.ReadAll(r)
		if !bytes.Equal(rest, ct) {
			t.Fatalf("%s: ReadHeader consumed ciphertext", name)
		}
	}
	l := func(n uint16) []byte { return binary.BigEndian.AppendUint16(nil, n) }
	for name, s := range map[string][]byte{
		"empty":            nil,
		"one byte":         {0},
		"zero length":      l(0),
		"length 1025":      append(l(MaxHeaderLen+1), make([]byte, MaxHeaderLen+1)...),
		"length 65535":     append(l(65535), make([]byte, 65535)...),
		"truncated":        stream[:2+len(h.Raw)-1],
		"length too long":  append(l(uint16(len(h.Raw)+1)), append(bytes.Clone(h.Raw), ct...)...),
		"length too short": append(l(uint16(len(h.Raw)-1)), h.Raw...),
	} {
		if _, err := ReadHeader(bytes.NewReader(s)); err == nil {
			t.Errorf("%s: read a header", name)
		}
	}
	if err := WriteHeader(errWriter{}, h); err == nil {
		t.Error("write error not reported")
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("broken") }

func TestCiphertextDigest(t *testing.T) {
	ct := testvec.Bytes("digest", 100_000)
	want := identity.Hash(ContextCiphertext, ct)
	d := NewDigest()
	for c := range slicesChunk(ct, 4093) {
		d.Write(c)
	}
	if got := d.Sum(nil); !bytes.Equal(got, want[:]) || !bytes.Equal(got, testvec.SpecHash(ContextCiphertext, ct)) {
		t.Fatal("streamed digest differs from Hash(ContextCiphertext, ct)")
	}
}

func slicesChunk(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			k := min(n, len(b))
			if !yield(b[:k]) {
				return
			}
			b = b[k:]
		}
	}
}

func TestParseID(t *testing.T) {
	for _, c := range []struct {
		s  string
		ok bool
	}{
		{"000102030405060708090a0b0c0d0e0f", true},
		{"ffffffffffffffffffffffffffffffff", true},
		{"00000000000000000000000000000000", true},
		{"000102030405060708090A0B0C0D0E0F", false},
		{"000102030405060708090a0b0c0d0e", false},
		{"000102030405060708090a0b0c0d0e0f00", false},
		{"000102030405060708090a0b0c0d0e0", false},
		{"000102030405060708090a0b0c0d0e0g", false},
		{" 000102030405060708090a0b0c0d0e0f", false},
		{"", false},
	} {
		id, err := ParseID(c.s)
		if (err == nil) != c.ok {
			t.Errorf("ParseID(%q) = %v, want ok = %v", c.s, err, c.ok)
			continue
		}
		if c.ok && id.String() != c.s {
			t.Errorf("ParseID(%q).String() = %q", c.s, id)
		}
	}
	id := ID{0xde, 0xad}
	if got, err := ParseID(id.String()); err != nil || got != id {
		t.Fatal("ID does not round-trip")
	}
}

func TestParsePrecedence(t *testing.T) {
	for _, c := range []struct {
		s    string
		want Precedence
		ok   bool
	}{
		{"FLASH", Flash, true},
		{"flash", Flash, true},
		{"Immediate", Immediate, true},
		{"PRIORITY", Priority, true},
		{"routine", Routine, true},
		{"", 0, false},
		{"Z", 0, false},
		{"FLASH ", 0, false},
		{"OVERRIDE", 0, false},
		{"Precedence(4)", 0, false},
	} {
		p, err := ParsePrecedence(c.s)
		if (err == nil) != c.ok || p != c.want {
			t.Errorf("ParsePrecedence(%q) = %v, %v", c.s, p, err)
		}
	}
	// ACP 127 order: the most urgent has the lowest value.
	if !(Flash < Immediate && Immediate < Priority && Priority < Routine) || Flash != 0 || Routine != 3 {
		t.Fatal("precedences out of ACP 127 order")
	}
	for p := Precedence(0); p < 8; p++ {
		if p.Valid() != (p <= 3) {
			t.Errorf("%d.Valid() = %v", p, p.Valid())
		}
		if p.Valid() {
			if q, err := ParsePrecedence(p.String()); err != nil || q != p {
				t.Errorf("%v does not round-trip", p)
			}
		} else if p.String() != "Precedence("+string(rune('0'+p))+")" {
			t.Errorf("invalid precedence prints as %q", p)
		}
	}
}

func TestPaddedSize(t *testing.T) {
	for _, c := range []struct{ n, want int64 }{
		{-1, 4096}, {0, 4096}, {1, 4096}, {4095, 4096}, {4096, 4096},
		{4097, 4352}, {4352, 4352}, {4353, 4608}, {8191, 8192}, {8192, 8192}, {8193, 8704},
		{65537, 67584}, {1 << 20, 1 << 20}, {1<<20 + 1, 1<<20 + 1<<15},
	} {
		if got := PaddedSize(c.n); got != c.want {
			t.Errorf("PaddedSize(%d) = %d, want %d", c.n, got, c.want)
		}
	}
	check := func(n int64) {
		p := PaddedSize(n)
		if p < n || p < MinPadded {
			t.Fatalf("PaddedSize(%d) = %d < n", n, p)
		}
		if n > MinPadded && float64(p-n) > 0.12*float64(n) {
			t.Fatalf("PaddedSize(%d) = %d: overhead above 12%%", n, p)
		}
		if p != specPadme(n) {
			t.Fatalf("PaddedSize(%d) = %d, spec %d", n, p, specPadme(n))
		}
		if PaddedSize(p) != p {
			t.Fatalf("PaddedSize(%d) = %d is not a fixed point", n, p)
		}
	}
	prev := int64(0)
	for n := int64(0); n < 1<<17; n++ {
		check(n)
		p := PaddedSize(n)
		if p < prev {
			t.Fatalf("PaddedSize is not monotonic at %d", n)
		}
		prev = p
	}
	// Powers of two, their neighbours and a sparse sweep up to 2^62, the
	// largest length a letter can have.
	for e := 12; e <= 62; e++ {
		for _, n := range []int64{1<<e - 1, 1 << e, 1<<e + 1, 1<<e + 1<<(e-1) + 3} {
			if n <= 1<<62 {
				check(n)
			}
		}
	}
	for n := int64(1 << 17); n < 1<<62 && n > 0; n += n/1000 + 1 {
		check(n)
		if p := PaddedSize(n); p < prev {
			t.Fatalf("PaddedSize is not monotonic at %d", n)
		} else {
			prev = p
		}
	}
	// Padmé leaks few distinct sizes: at most 2^S per power of two.
	sizes := map[int64]bool{}
	for n := int64(1 << 20); n < 1<<21; n += 7 {
		sizes[PaddedSize(n)] = true
	}
	if len(sizes) > 33 {
		t.Fatalf("%d distinct padded sizes between 1 and 2 MiB", len(sizes))
	}
}
