package wire

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

func TestStrings(t *testing.T) {
	for _, s := range []string{"", "a", "washington", strings.Repeat("x", 255), "\x00\n\xff"} {
		var b cryptobyte.Builder
		AddString8(&b, s)
		AddString16(&b, s)
		enc, err := b.Bytes()
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		want := append(append([]byte{byte(len(s))}, s...), append([]byte{byte(len(s) >> 8), byte(len(s))}, s...)...)
		if !bytes.Equal(enc, want) {
			t.Fatalf("%q: encoded %x, want %x", s, enc, want)
		}
		in := cryptobyte.String(enc)
		var s8, s16 string
		if !ReadString8(&in, &s8) || !ReadString16(&in, &s16) || !in.Empty() || s8 != s || s16 != s {
			t.Fatalf("%q: read back %q, %q", s, s8, s16)
		}
	}
}

// TestTooLong checks that over-long values make Bytes fail instead of
// truncating or panicking.
func TestTooLong(t *testing.T) {
	for name, add := range map[string]func(*cryptobyte.Builder){
		"str8 of 256":    func(b *cryptobyte.Builder) { AddString8(b, strings.Repeat("x", 256)) },
		"str16 of 65536": func(b *cryptobyte.Builder) { AddString16(b, strings.Repeat("x", 65536)) },
	} {
		var b cryptobyte.Builder
		add(&b)
		if enc, err := b.Bytes(); err == nil {
			t.Errorf("%s: encoded %d bytes", name, len(enc))
		}
	}
	var b cryptobyte.Builder
	AddString16(&b, strings.Repeat("x", 65535))
	if _, err := b.Bytes(); err != nil {
		t.Errorf("str16 of 65535: %v", err)
	}
}

func TestReadShort(t *testing.T) {
	for _, enc := range [][]byte{nil, {1}, {3, 'a', 'b'}} {
		s := cryptobyte.String(enc)
		var out string
		if ReadString8(&s, &out) {
			t.Errorf("ReadString8(%x) = %q", enc, out)
		}
	}
	for _, enc := range [][]byte{nil, {0}, {0, 2, 'a'}} {
		s := cryptobyte.String(enc)
		var out string
		if ReadString16(&s, &out) {
			t.Errorf("ReadString16(%x) = %q", enc, out)
		}
	}
}
