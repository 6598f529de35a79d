package identity

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
)

func signEd25519(key []byte, msg []byte) []byte {
	if len(key) != ed25519.PrivateKeySize {
		panic("identity: bad Ed25519 private key length")
	}
	return ed25519.Sign(ed25519.PrivateKey(key), msg)
}

func verifyEd25519(pub, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(ed25519.PublicKey(pub), msg, sig)
}

// EncodePublicKey returns the text form of an Ed25519 public key, as users
// exchange it to pin a party's root: standard base64 of the 32 bytes.
func EncodePublicKey(pub ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey parses the text form made by [EncodePublicKey].
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("invalid public key %q: want base64 of %d bytes", s, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}
