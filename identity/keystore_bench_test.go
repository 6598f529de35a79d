package identity

import (
	"fmt"
	"testing"
)

// BenchmarkKeystoreSeal seals a keystore at the work factors brief refuses
// (below 14), warns about (below 16) and uses (18, the default): the time
// per operation is what each passphrase guess costs on this machine, and
// B/op is scrypt's memory, 1 KiB << log2 N (r = 8). Opening costs the
// same: one scrypt.
func BenchmarkKeystoreSeal(b *testing.B) {
	ks, err := NewKeystore("washington", "laptop", true)
	if err != nil {
		b.Fatal(err)
	}
	for _, wf := range []int{14, 16, 18, 20} {
		b.Run(fmt.Sprintf("work-factor-%d", wf), func(b *testing.B) {
			for b.Loop() {
				if _, err := ks.Seal("amber tunnel quiet walnut", wf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
