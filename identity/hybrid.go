package identity

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
)

// Records that must hold for decades (rosters and receipts) are signed
// with a hybrid of Ed25519 and ML-DSA-65: a signature is valid only if
// both halves are, so it stands as long as either scheme does.

// Sizes of the hybrid forms.
const (
	HybridSeedSize      = 32
	HybridPublicKeySize = ed25519.PublicKeySize + mldsa65.PublicKeySize
	HybridSignatureSize = ed25519.SignatureSize + mldsa65.SignatureSize
)

// contextHybrid prefixes what both halves of a hybrid signature sign, so
// that neither half is a valid signature of the plain schemes'.
const contextHybrid = "brieftraeger/v1 hybrid-signature"

// HybridPrivateKey is an Ed25519 and an ML-DSA-65 key, both derived from
// one 32-byte seed.
type HybridPrivateKey struct {
	ed  ed25519.PrivateKey
	ml  *mldsa65.PrivateKey
	pub HybridPublicKey
}

// HybridPublicKey is the Ed25519 public key followed by the ML-DSA-65
// public key.
type HybridPublicKey []byte

// NewHybridKey derives a hybrid key from seed: each half's seed is
// HKDF-SHA-256 of it with its own label (docs/PROTOCOL.md).
func NewHybridKey(seed [HybridSeedSize]byte) (*HybridPrivateKey, error) {
	edSeed, err := hkdf.Key(sha256.New, seed[:], nil, contextHybrid+" ed25519", ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	mlSeed, err := hkdf.Key(sha256.New, seed[:], nil, contextHybrid+" ml-dsa-65", mldsa65.SeedSize)
	if err != nil {
		return nil, err
	}
	k := &HybridPrivateKey{ed: ed25519.NewKeyFromSeed(edSeed)}
	mlPub, mlPriv := mldsa65.NewKeyFromSeed((*[mldsa65.SeedSize]byte)(mlSeed))
	k.ml = mlPriv
	k.pub = append(append(HybridPublicKey{}, k.ed.Public().(ed25519.PublicKey)...), mlPub.Bytes()...)
	return k, nil
}

// Public returns the key's public half.
func (k *HybridPrivateKey) Public() HybridPublicKey { return k.pub }

// hybridMessage is what both halves sign for msg under context.
func hybridMessage(context string, msg []byte) []byte {
	m := make([]byte, 0, len(contextHybrid)+len(context)+2+len(msg))
	m = append(m, contextHybrid...)
	m = append(m, '\n')
	m = append(m, context...)
	m = append(m, '\n')
	return append(m, msg...)
}

// SignHybrid signs msg under context: the Ed25519 signature followed by
// the ML-DSA-65 signature (deterministic), both of hybridMessage.
func SignHybrid(k *HybridPrivateKey, context string, msg []byte) []byte {
	m := hybridMessage(context, msg)
	sig := make([]byte, HybridSignatureSize)
	copy(sig, ed25519.Sign(k.ed, m))
	if err := mldsa65.SignTo(k.ml, m, nil, false, sig[ed25519.SignatureSize:]); err != nil {
		panic(err) // only for a context over 255 bytes, and it is empty
	}
	return sig
}

// VerifyHybrid reports whether sig is a hybrid signature of msg under
// context by pub: both halves must verify.
func VerifyHybrid(pub HybridPublicKey, context string, msg, sig []byte) bool {
	if len(pub) != HybridPublicKeySize || len(sig) != HybridSignatureSize {
		return false
	}
	var mlPub mldsa65.PublicKey
	if err := mlPub.UnmarshalBinary(pub[ed25519.PublicKeySize:]); err != nil {
		return false
	}
	m := hybridMessage(context, msg)
	edOK := ed25519.Verify(ed25519.PublicKey(pub[:ed25519.PublicKeySize]), m, sig[:ed25519.SignatureSize])
	mlOK := mldsa65.Verify(&mlPub, m, nil, sig[ed25519.SignatureSize:])
	return edOK && mlOK
}

// ParseHybridPublicKey checks the form of a hybrid public key.
func ParseHybridPublicKey(b []byte) (HybridPublicKey, error) {
	if len(b) != HybridPublicKeySize {
		return nil, fmt.Errorf("hybrid public key must be %d bytes, got %d", HybridPublicKeySize, len(b))
	}
	var mlPub mldsa65.PublicKey
	if err := mlPub.UnmarshalBinary(b[ed25519.PublicKeySize:]); err != nil {
		return nil, errors.New("hybrid public key: malformed ML-DSA-65 key")
	}
	return HybridPublicKey(append([]byte(nil), b...)), nil
}
