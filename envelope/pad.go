package envelope

import "math/bits"

// MinPadded is the smallest padded size: every letter is at least this long.
const MinPadded = 4096

// PaddedSize returns the length that a plaintext of n bytes is padded to
// before sealing: Padmé (Nikitin et al., "Reducing Metadata Leakage from
// Encrypted Files and Communication with PURBs", PETS 2019), with a floor
// of MinPadded. Padmé leaks O(log log n) bits of the length; above the
// floor it adds at most 6.25% (1/16), less for larger letters.
func PaddedSize(n int64) int64 {
	if n <= MinPadded {
		return MinPadded
	}
	e := 63 - bits.LeadingZeros64(uint64(n)) // floor(log2 n)
	s := 64 - bits.LeadingZeros64(uint64(e)) // floor(log2 e) + 1
	mask := int64(1)<<(e-s) - 1
	return (n + mask) &^ mask
}
