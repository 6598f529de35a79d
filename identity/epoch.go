package identity

import (
	"bytes"
	"fmt"
	"io"

	"filippo.io/age"
)

// NewEpochKey generates a fresh epoch key: an age hybrid identity.
func NewEpochKey() (*age.HybridIdentity, error) {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		return nil, fmt.Errorf("failed to generate epoch key: %w", err)
	}
	return id, nil
}

// SealEpoch seals an epoch secret to every device on the roster, as an age
// file with one hybrid stanza per device. Destroying every copy of the
// result (and the devices' memory of it) destroys the epoch.
func SealEpoch(epoch *age.HybridIdentity, devices []Device) ([]byte, error) {
	var rcpts []age.Recipient
	for _, d := range devices {
		r, err := age.ParseHybridRecipient(d.Recipient)
		if err != nil {
			return nil, fmt.Errorf("device %q recipient: %w", d.Name, err)
		}
		rcpts = append(rcpts, r)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rcpts...)
	if err != nil {
		return nil, fmt.Errorf("failed to seal epoch key: %w", err)
	}
	if _, err := io.WriteString(w, epoch.String()); err != nil {
		return nil, fmt.Errorf("failed to seal epoch key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("failed to seal epoch key: %w", err)
	}
	return buf.Bytes(), nil
}

// OpenEpoch opens an epoch secret sealed by [SealEpoch] with a device's age
// identity.
func OpenEpoch(sealed []byte, device *age.HybridIdentity) (*age.HybridIdentity, error) {
	r, err := age.Decrypt(bytes.NewReader(sealed), device)
	if err != nil {
		return nil, fmt.Errorf("failed to open epoch key: %w", err)
	}
	s, err := io.ReadAll(io.LimitReader(r, 8192))
	if err != nil {
		return nil, fmt.Errorf("failed to open epoch key: %w", err)
	}
	id, err := age.ParseHybridIdentity(string(s))
	if err != nil {
		return nil, fmt.Errorf("failed to open epoch key: %w", err)
	}
	return id, nil
}
