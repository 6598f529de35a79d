// Package light judges the state of a channel, "the light": green when
// traffic went each way within an interval and a half, amber when within
// three intervals, red otherwise. Parties judge it from heartbeats; the
// relay operator from the last envelope each way.
package light

import "time"

// The three lights.
const (
	Green = "green" // each way within 1.5 intervals
	Amber = "amber" // each way within 3 intervals, but not green
	Red   = "red"   // a direction silent for 3 intervals (or never heard)
)

// Judge returns the light of a channel at now, given the newest traffic
// out and in (zero: none) and the interval expected each way.
func Judge(now, out, in time.Time, outEvery, inEvery time.Duration) string {
	within := func(t time.Time, d time.Duration) bool { return !t.IsZero() && now.Sub(t) <= d }
	switch {
	case within(out, outEvery*3/2) && within(in, inEvery*3/2):
		return Green
	case within(out, 3*outEvery) && within(in, 3*inEvery):
		return Amber
	}
	return Red
}
