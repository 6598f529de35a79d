//go:build unix

package testrelay

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system) this process has used,
// its nodes and clients included: benchmarks report it per letter, beside
// the same figure for their raw JetStream ceilings.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
