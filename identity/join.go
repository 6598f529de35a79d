package identity

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	"filippo.io/age"
	"golang.org/x/crypto/cryptobyte"

	"brieftraeger/internal/wire"
)

// JoinRequestVersion is the layout version byte of an encoded join request.
const JoinRequestVersion = 1

// JoinRequest is a new device's request to be named on its party's
// roster: the device's public keys, signed by the device's own signing key
// to show it holds it. It is carried to a holder of the party's root key
// out of band; the root key's signature on the next roster is what admits
// the device.
type JoinRequest struct {
	Party  string
	Device Device

	Raw []byte // the signed encoding, set by SignJoinRequest and ParseJoinRequest
}

// SignJoinRequest encodes and signs the join request of the device whose
// keystore is ks.
func SignJoinRequest(ks *Keystore) (*JoinRequest, error) {
	d := ks.DeviceEntry()
	body, err := joinBody(ks.Party, d)
	if err != nil {
		return nil, fmt.Errorf("failed to encode join request: %w", err)
	}
	raw := append(body, Sign(ks.Sign, ContextJoinRequest, body)...)
	return &JoinRequest{Party: ks.Party, Device: d, Raw: raw}, nil
}

func joinBody(party string, d Device) ([]byte, error) {
	if err := checkJoin(party, d); err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddUint8(JoinRequestVersion)
	wire.AddString8(&b, party)
	wire.AddString8(&b, d.Name)
	b.AddBytes(d.Key)
	wire.AddString16(&b, d.Recipient)
	return b.Bytes()
}

func checkJoin(party string, d Device) error {
	if err := CheckName("party", party); err != nil {
		return err
	}
	if err := CheckName("device", d.Name); err != nil {
		return err
	}
	if len(d.Key) != ed25519.PublicKeySize {
		return errors.New("device key has the wrong length")
	}
	if _, err := age.ParseHybridRecipient(d.Recipient); err != nil {
		return fmt.Errorf("device recipient: %v", err)
	}
	return nil
}

// ParseJoinRequest parses a signed join request and checks its signature
// against the device key it carries.
func ParseJoinRequest(raw []byte) (*JoinRequest, error) {
	if len(raw) < ed25519.SignatureSize {
		return nil, errors.New("malformed join request: too short")
	}
	body, sig := raw[:len(raw)-ed25519.SignatureSize], raw[len(raw)-ed25519.SignatureSize:]
	s := cryptobyte.String(body)
	jr := &JoinRequest{Raw: bytes.Clone(raw)}
	var version uint8
	var key []byte
	if !s.ReadUint8(&version) || version != JoinRequestVersion {
		return nil, errors.New("malformed join request: unknown version")
	}
	if !wire.ReadString8(&s, &jr.Party) || !wire.ReadString8(&s, &jr.Device.Name) ||
		!s.ReadBytes(&key, ed25519.PublicKeySize) || !wire.ReadString16(&s, &jr.Device.Recipient) || !s.Empty() {
		return nil, errors.New("malformed join request")
	}
	jr.Device.Key = bytes.Clone(key)
	if err := checkJoin(jr.Party, jr.Device); err != nil {
		return nil, fmt.Errorf("malformed join request: %w", err)
	}
	if !Verify(jr.Device.Key, ContextJoinRequest, body, sig) {
		return nil, fmt.Errorf("join request of %s/%s: bad signature", jr.Party, jr.Device.Name)
	}
	return jr, nil
}
