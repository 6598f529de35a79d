package identity

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"filippo.io/age"
)

// Keystores and root key files are sealed to a passphrase with age's
// scrypt recipient, the same way.

// sealScrypt seals plain to passphrase with age's scrypt recipient.
func sealScrypt(plain []byte, passphrase string, workFactor int) ([]byte, error) {
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return nil, err
	}
	if workFactor == 0 {
		workFactor = DefaultWorkFactor
	}
	if workFactor < 10 || workFactor > 22 {
		return nil, fmt.Errorf("scrypt work factor %d out of range 10..22", workFactor)
	}
	r.SetWorkFactor(workFactor)
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return nil, err
	}
	w.Write(plain)
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// openScrypt opens a file sealed by sealScrypt, reading at most limit
// bytes of plaintext, and returns it with the work factor it was sealed
// at. A passphrase that does not open it gives ErrWrongPassphrase.
func openScrypt(sealed []byte, passphrase string, limit int64) ([]byte, int, error) {
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, 0, err
	}
	id.SetMaxWorkFactor(22)
	op := &scryptOpener{id: id}
	r, err := age.Decrypt(bytes.NewReader(sealed), op)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return nil, 0, ErrWrongPassphrase
		}
		return nil, 0, err
	}
	plain, err := io.ReadAll(io.LimitReader(r, limit))
	return plain, op.workFactor, err
}

// scryptOpener opens an age file's scrypt stanza with id and keeps the
// stanza's work factor. age checks the stanza's form before it derives a
// key, and checks the header's MAC (which covers the work factor) after:
// once Decrypt succeeds, workFactor is the one the file was sealed with.
type scryptOpener struct {
	id         *age.ScryptIdentity
	workFactor int
}

func (o *scryptOpener) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	key, err := o.id.Unwrap(stanzas)
	if err != nil {
		return nil, err
	}
	// ScryptIdentity accepts only one stanza, of type scrypt, with two
	// arguments, the second in decimal digits.
	if o.workFactor, err = strconv.Atoi(stanzas[0].Args[1]); err != nil {
		return nil, fmt.Errorf("failed to read the scrypt work factor: %w", err)
	}
	return key, nil
}
