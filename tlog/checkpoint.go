package tlog

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// MaxCheckpointSize bounds a signed checkpoint note, signatures and
// cosignatures included, before it is parsed.
const MaxCheckpointSize = 16 << 10

// Checkpoint is a parsed, signature-checked C2SP tlog-checkpoint.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   [32]byte
	// Note is the signed note as received, with every signature line
	// (cosignatures included). It is what a witness cosigns and passes on.
	Note []byte
}

// Body returns the checkpoint's note text: origin, size and root, each on a
// line of its own.
func (c *Checkpoint) Body() []byte { return checkpointBody(c.Origin, c.Size, c.Root) }

func checkpointBody(origin string, size uint64, root [32]byte) []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
}

// ValidOrigin reports whether origin may name a Brieftraeger log: non-empty,
// valid UTF-8, at most 255 bytes, with no Unicode space, no control
// character and no '+'. C2SP only recommends the last two; Brieftraeger
// requires them, which also means no checkpoint body can begin with one of
// the protocol's context lines, all of which contain a space.
func ValidOrigin(origin string) bool {
	return validName(origin)
}

// validName is the rule for origins and for note key names (which
// x/mod/sumdb/note checks too): non-empty, no space, no '+'.
func validName(s string) bool {
	if s == "" || len(s) > 255 || !utf8.ValidString(s) || strings.Contains(s, "+") {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// Sign makes a checkpoint note for the tree of the given size and root,
// signed by the log's note key.
func Sign(origin string, size uint64, root [32]byte, signer note.Signer) ([]byte, error) {
	if !ValidOrigin(origin) {
		return nil, fmt.Errorf("tlog: invalid origin %q", origin)
	}
	if signer == nil {
		return nil, errors.New("tlog: no signer")
	}
	msg, err := note.Sign(&note.Note{Text: string(checkpointBody(origin, size, root))}, signer)
	if err != nil {
		return nil, fmt.Errorf("tlog: signing checkpoint: %w", err)
	}
	return msg, nil
}

// GenerateLogKey makes a new Ed25519 note key pair for a log (note.GenerateKey
// with crypto/rand). Per C2SP tlog-checkpoint the key name should be the
// log's origin. skey is secret; vkey is what clients pin.
func GenerateLogKey(name string) (skey, vkey string, err error) {
	if !validName(name) {
		return "", "", fmt.Errorf("tlog: invalid key name %q", name)
	}
	return note.GenerateKey(rand.Reader, name)
}

// NewLogKey encodes an existing Ed25519 private key as a note key pair, so a
// relay can keep its log key with its other keys. It makes the same
// encoding as note.GenerateKey.
func NewLogKey(name string, priv ed25519.PrivateKey) (skey, vkey string, err error) {
	if !validName(name) {
		return "", "", fmt.Errorf("tlog: invalid key name %q", name)
	}
	if len(priv) != ed25519.PrivateKeySize {
		return "", "", errors.New("tlog: bad Ed25519 private key")
	}
	vkey, err = note.NewEd25519VerifierKey(name, priv.Public().(ed25519.PublicKey))
	if err != nil {
		return "", "", err
	}
	// vkey is name+hash+base64(0x01||pub); the skey shares name and hash.
	// The name has no '+', but the base64 may.
	parts := strings.SplitN(vkey, "+", 3)
	key := append([]byte{1}, priv.Seed()...)
	skey = "PRIVATE+KEY+" + name + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(key)
	return skey, vkey, nil
}

// ParseCheckpoint checks a signed checkpoint note and parses its body.
//
// It is strict: the note must carry a valid signature by verifier (other
// signature lines, such as cosignatures, are ignored as the signed-note
// spec requires, but a line that claims verifier's name and key hash and
// does not verify is refused); the body must be exactly three lines: the
// origin, equal to the origin argument; the size in decimal without leading
// zeros; the root in standard padded base64 of exactly 32 bytes. Extension
// lines, which C2SP allows but does not recommend, are refused: Brieftraeger
// logs do not write them.
func ParseCheckpoint(msg []byte, origin string, verifier note.Verifier) (*Checkpoint, error) {
	if verifier == nil {
		return nil, errors.New("tlog: no log verifier")
	}
	if len(msg) > MaxCheckpointSize {
		return nil, fmt.Errorf("tlog: checkpoint is %d bytes, at most %d allowed", len(msg), MaxCheckpointSize)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		var unv *note.UnverifiedNoteError
		if errors.As(err, &unv) {
			return nil, fmt.Errorf("tlog: checkpoint is not signed by log key %s", verifier.Name())
		}
		return nil, fmt.Errorf("tlog: checkpoint: %w", err)
	}
	cp, err := parseBody(n.Text)
	if err != nil {
		return nil, err
	}
	if cp.Origin != origin {
		return nil, fmt.Errorf("tlog: checkpoint origin is %q, want %q", cp.Origin, origin)
	}
	cp.Note = append([]byte(nil), msg...)
	return cp, nil
}

// parseBody parses a checkpoint note text strictly (see ParseCheckpoint).
func parseBody(text string) (*Checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return nil, errors.New("tlog: checkpoint body does not end in a newline")
	}
	lines := strings.Split(text[:len(text)-1], "\n")
	if len(lines) != 3 {
		return nil, fmt.Errorf("tlog: checkpoint body has %d lines, want 3 (origin, size, root)", len(lines))
	}
	if !ValidOrigin(lines[0]) {
		return nil, fmt.Errorf("tlog: checkpoint origin %q is not valid", lines[0])
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return nil, fmt.Errorf("tlog: checkpoint size %q is not a decimal number without leading zeros", lines[1])
	}
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != 32 || base64.StdEncoding.EncodeToString(root) != lines[2] {
		return nil, fmt.Errorf("tlog: checkpoint root %q is not 32 bytes of standard base64", lines[2])
	}
	return &Checkpoint{Origin: lines[0], Size: size, Root: [32]byte(root)}, nil
}

// noteText returns the text of a signed note: everything up to and including
// the newline before the blank line that starts the signature block, found
// as note.Open finds it.
func noteText(msg []byte) ([]byte, error) {
	i := strings.LastIndex(string(msg), "\n\n")
	if i < 0 {
		return nil, errors.New("tlog: not a signed note (no signature block)")
	}
	return msg[:i+1], nil
}
