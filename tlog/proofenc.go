package tlog

import "fmt"

// MaxProofHashes is the most hashes a proof may hold on the wire. An
// inclusion proof in a tree of n leaves has at most ceil(log2 n) hashes and a
// consistency proof at most one more, so any tree below 2^63 leaves fits.
const MaxProofHashes = 64

// MarshalProof encodes a proof for transport: the hashes concatenated, 32
// bytes each, in the order the proof lists them. An empty proof is empty.
func MarshalProof(p [][32]byte) []byte {
	out := make([]byte, 0, 32*len(p))
	for i := range p {
		out = append(out, p[i][:]...)
	}
	return out
}

// ParseProof decodes [MarshalProof]. The length must be a multiple of 32 and
// hold at most [MaxProofHashes] hashes.
func ParseProof(b []byte) ([][32]byte, error) {
	if len(b)%32 != 0 {
		return nil, fmt.Errorf("tlog: proof is %d bytes, not a multiple of 32", len(b))
	}
	n := len(b) / 32
	if n > MaxProofHashes {
		return nil, fmt.Errorf("tlog: proof has %d hashes, at most %d allowed", n, MaxProofHashes)
	}
	p := make([][32]byte, n)
	for i := range p {
		copy(p[i][:], b[32*i:])
	}
	return p, nil
}
