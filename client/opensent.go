package client

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"filippo.io/age"

	"brieftraeger/envelope"
)

// ErrSealedCopyRemoved means a sent letter is a heartbeat or a test
// letter, whose sealed copy is removed once it is posted (markPosted): no
// person reads it again.
var ErrSealedCopyRemoved = errors.New("the sealed copy of a heartbeat or test letter is removed once it is posted")

// openedFile is the letter as OpenSent opened it (a Received, without
// receipts), in sent/ID/.
const openedFile = "letter.json"

// OpenedSent is a sent letter opened from its sealed copy into sent/ID/.
type OpenedSent struct {
	Dir    string    `json:"dir"`    // sent/ID/ of the party folder
	Letter *Received `json:"letter"` // its header as signed; Parts: body.txt first, then files/NAME, relative to Dir
}

// OpenSent opens the sealed copy of letter id that this device sent
// (sent/ID.age, or in records.db for a small letter; sealed to this
// party's own epoch key too) with this
// device's epoch identities into the folder sent/ID/: body.txt, files/ and
// letter.json. It checks the copy as Receive checks a letter: the
// ciphertext against the envelope's signed size and digest, the letter's
// signature against this device's key, its header against the envelope.
// The folder is staged in tmp/ and renamed into place, so it is complete
// or absent; once there, OpenSent returns it without opening the letter
// again. A letter without a sealed copy is an error wrapping
// ErrSealedCopyRemoved (a heartbeat or test letter) or ErrNoSealedCopy.
func (p *Party) OpenSent(id string) (*OpenedSent, error) {
	s, err := p.Sent(id)
	if err != nil {
		return nil, err
	}
	final := p.sentDir(id)
	if o, err := p.openedSent(final); err == nil {
		return o, nil
	}
	f, err := p.openSealed(id)
	if errors.Is(err, ErrNoSealedCopy) && s.Kind.System() && s.state() == StatePosted {
		return nil, fmt.Errorf("letter %s: %w", id, ErrSealedCopyRemoved)
	} else if err != nil {
		return nil, fmt.Errorf("letter %s: %w", id, err)
	}
	defer f.Close()
	eh, err := envelope.Parse(s.Envelope)
	if err != nil {
		return nil, fmt.Errorf("letter %s: its record's envelope: %w", id, err)
	}
	lk, err := p.createTemp("opensent-*", true)
	if err != nil {
		return nil, fmt.Errorf("failed to create staging folder: %w", err)
	}
	stage := lk.Name()
	defer os.RemoveAll(stage)
	defer lk.Close()
	rec, err := openInto(stage, f, eh, p.keys.Sign.Public().(ed25519.PublicKey), p.epochIdentities(), false)
	if err != nil {
		if derr := p.destroyedSince(s.SealedAt); derr != nil && errors.As(err, new(*age.NoIdentityMatchError)) {
			return nil, fmt.Errorf("letter %s: %w", id, derr)
		}
		return nil, fmt.Errorf("the sealed copy of letter %s does not open: %w", id, err)
	}
	rec.OpenedAt = p.now()
	o := &OpenedSent{Dir: final, Letter: rec}
	if err := writeJSONFile(filepath.Join(stage, openedFile), rec); err != nil {
		return nil, err
	}
	if err := p.placeOpened(stage, final); err != nil {
		// Another process may have put it there first.
		if have, oerr := p.openedSent(final); oerr == nil {
			return have, nil
		}
		return nil, fmt.Errorf("failed to keep the opened letter: %w", err)
	}
	return o, nil
}

// sentDir is the folder that OpenSent opens letter id into.
func (p *Party) sentDir(id string) string { return filepath.Join(p.dir, "sent", id) }

// openedSent returns the opened letter in dir, or an error if there is
// none: a folder is there only once complete (placeOpened).
func (p *Party) openedSent(dir string) (*OpenedSent, error) {
	o := &OpenedSent{Dir: dir, Letter: &Received{}}
	if err := readJSONFile(filepath.Join(dir, openedFile), o.Letter); err != nil {
		return nil, err
	}
	return o, nil
}

// epochIdentities returns the epoch identities this device holds.
func (p *Party) epochIdentities() []age.Identity {
	ids := make([]age.Identity, 0, len(p.epochKeys()))
	for _, id := range p.epochKeys() {
		ids = append(ids, id)
	}
	return ids
}

// placeOpened makes the staged folder of an opened letter durable and
// renames it to final, which must not exist; then final's folder is
// synced.
func (p *Party) placeOpened(stage, final string) error {
	if err := syncDir(filepath.Join(stage, "files")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := syncDir(stage); err != nil {
		return err
	}
	if err := os.Rename(stage, final); err != nil {
		return err
	}
	return syncDir(filepath.Dir(final))
}
