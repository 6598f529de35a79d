package main

import (
	"context"
	"fmt"
	"time"

	"brieftraeger/client"
)

// epochs rotates the epoch key when it is due, on a device that keeps the
// root key; any other device says once that the current epoch expires
// soon and no one rotated it (the rosters it follows would show a
// rotation).
func (w *watcher) epochs(ctx context.Context) {
	if w.p.HoldsRootKey() {
		if w.epochEvery == 0 || !w.p.EpochRotationDue(w.epochEvery, 0) {
			return
		}
		ch, err := w.p.RotateEpoch(ctx, client.EpochOptions{IfOlderThan: w.epochEvery})
		if ctx.Err() == nil {
			w.warnOnce("epoch rotation", err)
		}
		if err == nil && ch.Added != 0 {
			fmt.Fprintf(w.e.stdout, "new epoch %d of %s, until %s: roster #%d\n", ch.Added, ch.Roster.Party,
				ch.Roster.Epoch(ch.Added).NotAfter.Format(time.DateTime)+"Z", ch.Roster.Serial)
		}
		return
	}
	var err error
	if e := w.p.EpochExpiring(client.EpochWarnBefore); e != nil {
		err = fmt.Errorf("epoch %d of %s expires at %s and no newer one is on the roster: rotate it on the device holding the root key ('brief party epoch rotate')",
			e.Number, w.p.Name(), e.NotAfter.UTC().Format(time.DateTime)+"Z")
	}
	w.warnOnce("epoch key", err)
}
