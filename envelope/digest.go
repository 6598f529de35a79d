package envelope

import (
	"crypto/sha256"
	"hash"
)

// NewDigest returns a hash that computes CiphertextDigest: SHA-256 over
// ContextCiphertext || "\n" || ciphertext. Write the ciphertext to it as it
// streams by.
func NewDigest() hash.Hash {
	h := sha256.New()
	h.Write([]byte(ContextCiphertext + "\n"))
	return h
}
