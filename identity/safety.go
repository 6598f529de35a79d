package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
)

// Pin is how a user names another party's root key to pin it: the key
// itself, or its fingerprint, which the device then matches against the
// key the relay shows. Exactly one of Key and Fingerprint is set.
type Pin struct {
	Key         ed25519.PublicKey
	Fingerprint string // in the form [Fingerprint] prints
}

// fingerprintDigits is the number of hex digits in a fingerprint.
const fingerprintDigits = 32

// ParsePin parses what a user was given to pin a party's root key: the
// base64 root key [EncodePublicKey] prints, or its [Fingerprint], in upper
// or lower case, with or without ':' or ' ' between the digits. Anything
// else is refused with an error that says which form was expected.
func ParsePin(s string) (Pin, error) {
	if fp, ok := fingerprintForm(s); ok {
		if len(fp) != fingerprintDigits {
			return Pin{}, fmt.Errorf("%q is not a fingerprint: a fingerprint is %d hex digits (0-9, a-f) in groups of four, as 'brief party show' prints it; this has %d",
				s, fingerprintDigits, len(fp))
		}
		return Pin{Fingerprint: groupHex(fp)}, nil
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	switch {
	case err != nil:
		return Pin{}, fmt.Errorf("%q is neither a fingerprint (%d hex digits, e.g. 1a2b:3c4d:…) nor a root key (%d characters of base64)",
			s, fingerprintDigits, base64.StdEncoding.EncodedLen(ed25519.PublicKeySize))
	case len(b) != ed25519.PublicKeySize:
		return Pin{}, fmt.Errorf("%q is not a root key: a root key is %d bytes (%d characters of base64), this is %d bytes; copy it again, whole",
			s, ed25519.PublicKeySize, base64.StdEncoding.EncodedLen(ed25519.PublicKeySize), len(b))
	}
	return Pin{Key: ed25519.PublicKey(b)}, nil
}

// fingerprintForm returns the hex digits of s, lower case, if s holds
// nothing but hex digits, ':' and ' ' and at least one digit.
func fingerprintForm(s string) (string, bool) {
	var digits []byte
	for _, c := range []byte(s) {
		switch {
		case c >= '0' && c <= '9' || c >= 'a' && c <= 'f':
			digits = append(digits, c)
		case c >= 'A' && c <= 'F':
			digits = append(digits, c-'A'+'a')
		case c == ':' || c == ' ':
		default:
			return "", false
		}
	}
	return string(digits), len(digits) > 0
}

// groupHex joins hex digits in groups of four with ':'.
func groupHex(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// SafetyNumberGroups is the number of four-digit groups in a safety
// number: the first half belongs to the party whose name sorts first.
const SafetyNumberGroups = 16

// SafetyNumber returns the code two parties read to each other to confirm
// that each pinned the other's true root key: 16 groups of four decimal
// digits, separated by spaces. Each party contributes 8 groups derived
// from its own name and pinned (serial 1) root key,
// Hash(ContextSafetyNumber, u8 len(name) || name || root), and the party
// whose name sorts first comes first, so both sides compute the same
// number whoever computes it. docs/PROTOCOL.md gives the layout and why
// it is long enough.
func SafetyNumber(partyA string, rootA ed25519.PublicKey, partyB string, rootB ed25519.PublicKey) (string, error) {
	for _, x := range []struct {
		party string
		root  ed25519.PublicKey
	}{{partyA, rootA}, {partyB, rootB}} {
		if err := CheckName("party", x.party); err != nil {
			return "", err
		}
		if len(x.root) != ed25519.PublicKeySize {
			return "", fmt.Errorf("root key of %q is %d bytes, want %d", x.party, len(x.root), ed25519.PublicKeySize)
		}
	}
	if partyB < partyA || partyB == partyA && bytes.Compare(rootB, rootA) < 0 {
		partyA, rootA, partyB, rootB = partyB, rootB, partyA, rootA
	}
	groups := append(safetyHalf(partyA, rootA), safetyHalf(partyB, rootB)...)
	return strings.Join(groups, " "), nil
}

// safetyHalf returns one party's 8 groups: each big-endian 4 bytes of its
// hash, modulo 10000, as four digits.
func safetyHalf(party string, root ed25519.PublicKey) []string {
	h := Hash(ContextSafetyNumber, []byte{byte(len(party))}, []byte(party), root)
	out := make([]string, 0, len(h)/4)
	for i := 0; i < len(h); i += 4 {
		out = append(out, fmt.Sprintf("%04d", binary.BigEndian.Uint32(h[i:i+4])%10000))
	}
	return out
}
