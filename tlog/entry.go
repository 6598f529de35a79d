package tlog

import (
	"errors"
	"fmt"

	"brieftraeger/identity"
	"github.com/transparency-dev/merkle/rfc6962"
)

// ContextLogEntry is the domain-separation context of an entry hash: the
// hash of an envelope, receipt or roster that goes into a leaf.
const ContextLogEntry = "brieftraeger/v1 log-entry"

// Kind says what a leaf stands for. It is the first byte of the leaf data
// and is also hashed into the entry hash, so an envelope can never be
// passed off as a receipt or a roster.
type Kind uint8

const (
	KindEnvelope Kind = 1 // a posted envelope (its signed header, see envelope.Hash)
	KindReceipt  Kind = 2 // a signed receipt
	KindRoster   Kind = 3 // a signed roster version
)

// LeafDataSize is the length of a leaf's data: one kind byte and a 32-byte
// entry hash.
const LeafDataSize = 1 + 32

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool { return k >= KindEnvelope && k <= KindRoster }

func (k Kind) String() string {
	switch k {
	case KindEnvelope:
		return "envelope"
	case KindReceipt:
		return "receipt"
	case KindRoster:
		return "roster"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// EntryHash is SHA-256("brieftraeger/v1 log-entry" || "\n" || kind || raw),
// computed with identity.Hash. raw is the entry's canonical bytes (for
// example a signed receipt); the log never sees more than this hash.
func EntryHash(kind Kind, raw []byte) [32]byte {
	return identity.Hash(ContextLogEntry, []byte{byte(kind)}, raw)
}

// LeafData returns the 33-byte leaf data for an entry: kind || EntryHash(kind, raw).
func LeafData(kind Kind, raw []byte) []byte {
	h := EntryHash(kind, raw)
	return LeafDataFromHash(kind, h)
}

// LeafDataFromHash returns kind || entryHash, for callers that already hold
// the entry hash.
func LeafDataFromHash(kind Kind, entryHash [32]byte) []byte {
	d := make([]byte, 0, LeafDataSize)
	d = append(d, byte(kind))
	return append(d, entryHash[:]...)
}

// ParseLeaf splits leaf data into its kind and entry hash. It refuses data
// of the wrong length and unknown kinds.
func ParseLeaf(leafData []byte) (Kind, [32]byte, error) {
	var h [32]byte
	if len(leafData) != LeafDataSize {
		return 0, h, fmt.Errorf("tlog: leaf data is %d bytes, want %d", len(leafData), LeafDataSize)
	}
	k := Kind(leafData[0])
	if !k.Valid() {
		return 0, h, fmt.Errorf("tlog: unknown leaf kind %d", leafData[0])
	}
	copy(h[:], leafData[1:])
	return k, h, nil
}

// LeafHash is the RFC 6962 leaf hash SHA-256(0x00 || leafData).
func LeafHash(leafData []byte) [32]byte {
	return to32(rfc6962.DefaultHasher.HashLeaf(leafData))
}

// EmptyRoot is the root of the empty tree, SHA-256 of the empty string.
func EmptyRoot() [32]byte { return to32(rfc6962.DefaultHasher.EmptyRoot()) }

func hashChildren(l, r [32]byte) [32]byte {
	return to32(rfc6962.DefaultHasher.HashChildren(l[:], r[:]))
}

func to32(b []byte) [32]byte {
	var h [32]byte
	if copy(h[:], b) != 32 {
		panic("tlog: hash is not 32 bytes")
	}
	return h
}

func toSlices(hs [][32]byte) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

var errNoSuchSize = errors.New("tlog: tree size beyond the tree")
