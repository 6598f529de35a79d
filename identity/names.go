package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// MaxNameLen is the longest party, device or office name.
const MaxNameLen = 32

// CheckName reports whether s is a valid party, device or office name:
// 1 to 32 characters from a-z, 0-9 and '-', not starting with '-'.
func CheckName(what, s string) error {
	if len(s) == 0 || len(s) > MaxNameLen {
		return fmt.Errorf("invalid %s name %q: must be 1 to %d characters", what, s, MaxNameLen)
	}
	for i, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0
		if !ok {
			return fmt.Errorf("invalid %s name %q: use only a-z, 0-9 and '-' (not first)", what, s)
		}
	}
	return nil
}

// Hash returns SHA-256 over a domain-separation context line and data:
// SHA-256(context || "\n" || data). Every hash in the protocol goes
// through it, each with its own context from docs/PROTOCOL.md.
func Hash(context string, data ...[]byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(context))
	h.Write([]byte{'\n'})
	for _, d := range data {
		h.Write(d)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Fingerprint returns the short, human-comparable form of a public key: the
// first 16 bytes of Hash(ContextFingerprint, key) in hex, in groups of four.
func Fingerprint(key []byte) string {
	h := Hash(ContextFingerprint, key)
	s := hex.EncodeToString(h[:16])
	out := make([]byte, 0, len(s)+len(s)/4)
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, s[i:i+4]...)
	}
	return string(out)
}
