package client

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"brieftraeger/envelope"
)

// Receipts that did not reach the relay. A delivered or acknowledged
// receipt is recorded with its letter before it is posted; if the post
// fails (the relay is down), the letter's record lists its kind in
// Unsent, and the letter's row has state "unsent", until a post succeeds.
// RetryReceipts (brief watch, each tick) posts them again; a letter whose
// acknowledged receipt has not gone stays pending. Without this, a person
// who acknowledged a letter while the relay was down would see it leave
// the pending list, and its sender would wait for the receipt forever.

// Received-letter states of the letters table.
const (
	receivedOpened = "opened"
	receivedUnsent = "unsent" // a receipt recorded and not yet posted
)

func (rec *Received) rowState() string {
	if len(rec.Unsent) > 0 {
		return receivedUnsent
	}
	return receivedOpened
}

// markReceiptSent records that the receipt of the given kind reached the
// relay.
func (p *Party) markReceiptSent(id string, kind envelope.Kind) error {
	return p.inTx(func(tx *sql.Tx) error {
		var rec Received
		if err := getLetter(tx, boxReceived, id, &rec); err != nil {
			return err
		}
		n := len(rec.Unsent)
		if rec.Unsent = slices.DeleteFunc(rec.Unsent, func(k envelope.Kind) bool { return k == kind }); len(rec.Unsent) == n {
			return nil
		}
		return putReceivedRecord(tx, &rec, "")
	})
}

// RetryReceipts posts again every delivered and acknowledged receipt that
// did not reach the relay when it was made. It returns how many went.
func (p *Party) RetryReceipts(ctx context.Context) (int, error) {
	recs, err := receivedIndexed(p.db, "letters_unsent", `state = 'unsent'`, `at`)
	if err != nil {
		return 0, fmt.Errorf("failed to read the receipts not sent: %w", err)
	}
	sent := 0
	var errs []error
	for _, rec := range recs {
		for _, kind := range slices.Clone(rec.Unsent) {
			if err := p.fileReceipt(ctx, rec, kind); err != nil {
				errs = append(errs, fmt.Errorf("letter %s: %w", rec.ID, err))
				continue
			}
			sent++
		}
	}
	return sent, errors.Join(errs...)
}
