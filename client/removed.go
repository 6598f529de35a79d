package client

import (
	"context"
	"errors"
	"fmt"

	"brieftraeger/envelope"
	"brieftraeger/identity"
	"brieftraeger/tlog"
)

// deviceBeforeRemoval returns the device that signed eh as an earlier
// version of the sender's roster named it, if the relay's log holds the
// envelope before the first version that no longer names the device: a
// letter posted before the device was removed, opened after this device
// followed the removal. The log is append-only and both entries are
// proved in it, so the relay cannot move a later letter before the
// removal. A device the chain never named, or a letter logged after its
// removal (or not logged yet, so after it), is refused (a
// *LetterRefusedError); any other error leaves the letter for later.
func (p *Party) deviceBeforeRemoval(ctx context.Context, eh *envelope.Header) (*identity.Device, error) {
	id := eh.ID.String()
	c, err := p.contactFile(eh.From)
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
		if d := r.Device(eh.Device); d != nil {
			last, dev = i, d
		}
	}
	if dev == nil || last == len(c.Chain)-1 {
		return nil, refusedLetter(id, fmt.Errorf("letter %s: device %q is not on the roster of %q", id, eh.Device, eh.From))
	}
	removedAt, err := p.VerifyLogged(ctx, tlog.LeafData(tlog.KindRoster, c.Chain[last+1]))
	if err != nil {
		return nil, fmt.Errorf("roster %d of %q, which removed device %q: %w", last+2, eh.From, eh.Device, err)
	}
	postedAt, err := p.VerifyLogged(ctx, tlog.LeafData(tlog.KindEnvelope, eh.Raw))
	if errors.Is(err, ErrNotLogged) || err == nil && postedAt > removedAt {
		return nil, refusedLetter(id, fmt.Errorf("letter %s: device %q was removed from the roster of %q (roster %d) before the letter was posted",
			id, eh.Device, eh.From, last+2))
	} else if err != nil {
		return nil, err
	}
	return dev, nil
}
