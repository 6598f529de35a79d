// Package wire holds the length-prefixed string helpers that every byte
// layout in docs/PROTOCOL.md shares, on top of cryptobyte. Over-long values
// make the builder's Bytes return an error instead of panicking.
package wire

import "golang.org/x/crypto/cryptobyte"

// AddString8 appends s with a one-byte length prefix.
func AddString8(b *cryptobyte.Builder, s string) {
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
}

// AddString16 appends s with a two-byte big-endian length prefix.
func AddString16(b *cryptobyte.Builder, s string) {
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
}

// ReadString8 reads a string written by AddString8.
func ReadString8(s *cryptobyte.String, out *string) bool {
	var v cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&v) {
		return false
	}
	*out = string(v)
	return true
}

// ReadString16 reads a string written by AddString16.
func ReadString16(s *cryptobyte.String, out *string) bool {
	var v cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&v) {
		return false
	}
	*out = string(v)
	return true
}
