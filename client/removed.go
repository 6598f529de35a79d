package client

import (
	"context"
	"errors"
	"fmt"

	"brieftraeger/envelope"
	"brieftraeger/identity"
	"brieftraeger/tlog"
)

// errNotOnRoster is the error for a letter or receipt signed by a device
// that the signer's party's roster does not name, and did not name when
// the relay logged it.
var errNotOnRoster = errors.New("not on the roster")

// beforeRemoval returns party's device as the last version of the stored
// roster chain that named it, if the relay's log holds leaf before the
// first version that no longer names it: a letter or receipt made before
// the device was removed and seen here after this device followed the
// removal. The log is append-only and both entries are proved in it, so
// the relay cannot move a later one before the removal. It returns an
// error wrapping errNotOnRoster for a device the chain never named, or a
// leaf logged after the removal (or not logged yet, so after it); any
// other error means it could not tell.
func (p *Party) beforeRemoval(ctx context.Context, party, device string, leaf []byte) (*identity.Device, error) {
	c, err := p.contactFile(party)
	if err != nil {
		return nil, err
	}
	last := -1
	var dev *identity.Device
	for i, raw := range c.Chain {
		r, err := identity.DecodeRoster(raw)
		if err != nil {
			return nil, err
		}
		if d := r.Device(device); d != nil {
			last, dev = i, d
		}
	}
	if dev == nil || last == len(c.Chain)-1 {
		return nil, fmt.Errorf("device %q is %w of %q", device, errNotOnRoster, party)
	}
	removedAt, err := p.VerifyLogged(ctx, tlog.LeafData(tlog.KindRoster, c.Chain[last+1]))
	if err != nil {
		return nil, fmt.Errorf("roster %d of %q, which removed device %q: %w", last+2, party, device, err)
	}
	at, err := p.VerifyLogged(ctx, leaf)
	if errors.Is(err, ErrNotLogged) || err == nil && at > removedAt {
		return nil, fmt.Errorf("device %q was removed from the roster of %q (roster %d) before this was logged: %w", device, party, last+2, errNotOnRoster)
	} else if err != nil {
		return nil, err
	}
	return dev, nil
}

// letterBeforeRemoval returns the device that signed eh if it was removed
// from the sender's roster after the relay logged eh; a letter it signed
// later is refused (a *LetterRefusedError).
func (p *Party) letterBeforeRemoval(ctx context.Context, eh *envelope.Header) (*identity.Device, error) {
	dev, err := p.beforeRemoval(ctx, eh.From, eh.Device, tlog.LeafData(tlog.KindEnvelope, eh.Raw))
	if errors.Is(err, errNotOnRoster) {
		return nil, refusedLetter(eh.ID.String(), fmt.Errorf("letter %s: %w", eh.ID, err))
	}
	return dev, err
}

// receiptBeforeRemoval checks a receipt of a sent letter that VerifyReceipt
// refused because its signer is no longer on the recipient's roster: it is
// good if the relay logged it before the device's removal.
func (p *Party) receiptBeforeRemoval(ctx context.Context, sent *SentLetter, rc *envelope.Receipt) error {
	dev, err := p.beforeRemoval(ctx, rc.Party, rc.Signer, tlog.LeafData(tlog.KindReceipt, rc.Raw))
	if errors.Is(err, errNotOnRoster) {
		return err
	} else if err != nil {
		return &undecidedError{err}
	}
	return rc.Verify(dev.Key)
}

// undecidedError is a check that could not be made now (the relay did not
// answer): the receipt is neither taken nor set aside, and is checked
// again at the next collection.
type undecidedError struct{ err error }

func (e *undecidedError) Error() string { return e.err.Error() }
func (e *undecidedError) Unwrap() error { return e.err }
