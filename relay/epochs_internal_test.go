package relay

import (
	"strconv"
	"testing"
)

// FuzzParseEpochNumber checks that an epoch number in a path is taken
// only in its one decimal form, 1 to 2^32-1.
func FuzzParseEpochNumber(f *testing.F) {
	for _, s := range []string{"1", "2", "02", "0", "-1", "+1", "4294967295", "4294967296", "1e3", " 1", "", "١"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseEpochNumber(s)
		if err != nil {
			return
		}
		if n == 0 || strconv.FormatUint(uint64(n), 10) != s {
			t.Fatalf("%q taken as epoch %d", s, n)
		}
	})
}
