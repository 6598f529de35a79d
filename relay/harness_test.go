package relay_test

import (
	"testing"

	"brieftraeger/client"
	"brieftraeger/internal/testrelay"
)

// world is a real relay with two admitted parties, washington and tehran,
// whose channel is open, and a third admitted party, moscow, with no
// channel but tehran's root pinned.
type world struct {
	*testrelay.World
	t              testing.TB
	wash, teh, mos *client.Party
}

func newWorld(t testing.TB, maxEnvelope int64) *world {
	t.Helper()
	w := &world{World: testrelay.Start(t, testrelay.Options{MaxEnvelopeBytes: maxEnvelope}), t: t}
	w.wash, w.teh, w.mos = w.Party("washington"), w.Party("tehran"), w.Party("moscow")
	w.Connect(w.wash, w.teh)
	w.Pin(w.mos, w.teh)
	return w
}
