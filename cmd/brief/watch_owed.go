package main

import (
	"context"

	"brieftraeger/client"
	"brieftraeger/internal/alarm"
)

// opened raises the alarm for a letter the watch opened, if it is a letter
// for a person opened for the first time. It is printed already.
func (w *watcher) opened(ctx context.Context, rec *client.Received) {
	if ev, ok := alarm.LetterOpened(rec, w.p.ForAPerson(rec)); ok {
		w.hooks.Raise(ctx, ev)
	}
}

// owed reports, once each, the letters opened here and not acknowledged by
// a person by their acknowledgement deadline, and the letters sent from
// here, delivered and not acknowledged by theirs (from the receipts
// collected this tick).
func (w *watcher) owed(ctx context.Context) {
	pending, err := w.p.PendingLetters(w.ackDeadlines)
	if err != nil {
		report(w.e.stderr, err)
	} else {
		w.raise(ctx, w.tracker.AckOverdue(pending))
	}
	unack, err := w.p.UnacknowledgedLetters(w.ackDeadlines)
	if err != nil {
		report(w.e.stderr, err)
	} else {
		w.raise(ctx, w.tracker.Unacknowledged(unack))
	}
}

// raise prints each event and hands it to the hooks.
func (w *watcher) raise(ctx context.Context, evs []alarm.Event) {
	for _, ev := range evs {
		w.print(ev, nil)
		w.hooks.Raise(ctx, ev)
	}
}
