package tlog

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// C2SP tlog-cosignature, Ed25519 type ("cosignature/v1").
const (
	// CosignatureAlg is the signed-note key algorithm byte of an Ed25519
	// cosigner key, used in its key ID and verifier key.
	CosignatureAlg = 0x04
	// cosignatureHeader is the first line of the signed message; it is the
	// domain separation of cosignatures.
	cosignatureHeader = "cosignature/v1\n"
	cosigSigSize      = 8 + ed25519.SignatureSize // timestamped_signature
)

// cosignerKeyHash is the C2SP key ID of an Ed25519 cosigner:
// SHA-256(name || "\n" || 0x04 || public key)[:4], big-endian.
func cosignerKeyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', CosignatureAlg})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// cosignedMessage is "cosignature/v1\ntime <t>\n" || checkpoint note text.
func cosignedMessage(t uint64, body []byte) []byte {
	m := make([]byte, 0, len(cosignatureHeader)+26+len(body))
	m = append(m, cosignatureHeader...)
	m = append(m, "time "...)
	m = strconv.AppendUint(m, t, 10)
	m = append(m, '\n')
	return append(m, body...)
}

// Cosign makes a C2SP tlog-cosignature/v1 signature line for a checkpoint
// note: "— <witnessName> base64(key ID || u64 big-endian time || Ed25519
// signature)\n", where the signature covers "cosignature/v1\ntime
// <seconds>\n" followed by the checkpoint's note text. Append the line to
// the note to make a cosigned checkpoint.
//
// A cosignature states that, as of t, this is the largest consistent
// checkpoint the witness has seen for the log: cosign only what
// [Witness.Accept] accepted (ideally [Witness.Latest]). Cosign itself only
// checks that the note text is a well-formed checkpoint body.
func Cosign(checkpointNote []byte, witnessName string, key ed25519.PrivateKey, t time.Time) ([]byte, error) {
	if !validName(witnessName) {
		return nil, fmt.Errorf("tlog: invalid witness name %q", witnessName)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("tlog: bad Ed25519 witness key")
	}
	sec := t.Unix()
	if sec < 0 {
		return nil, fmt.Errorf("tlog: cosignature time %v is before 1970", t)
	}
	body, err := noteText(checkpointNote)
	if err != nil {
		return nil, err
	}
	if _, err := parseBody(string(body)); err != nil {
		return nil, err
	}
	sig := make([]byte, 4, 4+cosigSigSize)
	binary.BigEndian.PutUint32(sig, cosignerKeyHash(witnessName, key.Public().(ed25519.PublicKey)))
	sig = binary.BigEndian.AppendUint64(sig, uint64(sec))
	sig = append(sig, ed25519.Sign(key, cosignedMessage(uint64(sec), body))...)
	return []byte("— " + witnessName + " " + base64.StdEncoding.EncodeToString(sig) + "\n"), nil
}

// cosigVerifier is a note.Verifier for Ed25519 cosignatures.
type cosigVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.hash }
func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != cosigSigSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	if t > math.MaxInt64 {
		return false
	}
	return ed25519.Verify(v.pub, cosignedMessage(t, msg), sig[8:])
}

// NewCosignatureVerifier returns a note.Verifier for the Ed25519
// cosignatures of one witness, usable with note.Open.
func NewCosignatureVerifier(witnessName string, pub ed25519.PublicKey) (note.Verifier, error) {
	if !validName(witnessName) {
		return nil, fmt.Errorf("tlog: invalid witness name %q", witnessName)
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("tlog: bad Ed25519 witness public key")
	}
	return &cosigVerifier{name: witnessName, hash: cosignerKeyHash(witnessName, pub), pub: pub}, nil
}

// CosignerVerifierKey encodes a witness public key as a signed-note verifier
// key: <name>+<hex key ID>+base64(0x04 || public key).
func CosignerVerifierKey(witnessName string, pub ed25519.PublicKey) (string, error) {
	if !validName(witnessName) {
		return "", fmt.Errorf("tlog: invalid witness name %q", witnessName)
	}
	if len(pub) != ed25519.PublicKeySize {
		return "", errors.New("tlog: bad Ed25519 witness public key")
	}
	key := append([]byte{CosignatureAlg}, pub...)
	return fmt.Sprintf("%s+%08x+%s", witnessName, cosignerKeyHash(witnessName, pub), base64.StdEncoding.EncodeToString(key)), nil
}

// ParseCosignerVerifierKey parses [CosignerVerifierKey]'s encoding and
// returns the witness name, public key and a verifier.
func ParseCosignerVerifierKey(vkey string) (string, ed25519.PublicKey, note.Verifier, error) {
	bad := errors.New("tlog: malformed cosigner verifier key")
	name, rest, ok1 := strings.Cut(vkey, "+")
	hash16, key64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || len(hash16) != 8 {
		return "", nil, nil, bad
	}
	hash, err1 := strconv.ParseUint(hash16, 16, 32)
	key, err2 := base64.StdEncoding.Strict().DecodeString(key64)
	if err1 != nil || err2 != nil || len(key) != 1+ed25519.PublicKeySize || key[0] != CosignatureAlg {
		return "", nil, nil, bad
	}
	pub := ed25519.PublicKey(key[1:])
	v, err := NewCosignatureVerifier(name, pub)
	if err != nil {
		return "", nil, nil, err
	}
	if v.KeyHash() != uint32(hash) {
		return "", nil, nil, errors.New("tlog: cosigner verifier key: key ID does not match the key")
	}
	return name, pub, v, nil
}

// VerifyCosignature checks that a checkpoint note carries a valid
// cosignature by the witness, and returns the time it states. The note text
// must be a well-formed checkpoint body; other signature lines are ignored
// (check the log's own signature with [ParseCheckpoint]).
func VerifyCosignature(checkpointNote []byte, witnessName string, pub ed25519.PublicKey) (time.Time, error) {
	v, err := NewCosignatureVerifier(witnessName, pub)
	if err != nil {
		return time.Time{}, err
	}
	if len(checkpointNote) > MaxCheckpointSize {
		return time.Time{}, fmt.Errorf("tlog: checkpoint is %d bytes, at most %d allowed", len(checkpointNote), MaxCheckpointSize)
	}
	n, err := note.Open(checkpointNote, note.VerifierList(v))
	if err != nil {
		var unv *note.UnverifiedNoteError
		if errors.As(err, &unv) {
			return time.Time{}, fmt.Errorf("tlog: checkpoint carries no cosignature by %s", witnessName)
		}
		return time.Time{}, fmt.Errorf("tlog: cosignature by %s: %w", witnessName, err)
	}
	if _, err := parseBody(n.Text); err != nil {
		return time.Time{}, err
	}
	for _, s := range n.Sigs {
		if s.Name != witnessName || s.Hash != v.KeyHash() {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(s.Base64)
		if err != nil || len(raw) != 4+cosigSigSize {
			break
		}
		return time.Unix(int64(binary.BigEndian.Uint64(raw[4:])), 0).UTC(), nil
	}
	return time.Time{}, errors.New("tlog: cosignature verified but not found") // not reached
}
