package identity

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"fmt"
	"strings"
)

// InviteWords is the number of words in an invitation code, and
// InviteBits the entropy they carry: 11 bits a word, 88 in all.
const (
	InviteWords = 8
	InviteBits  = InviteWords * 11
)

// inviteWordList is the BIP-39 English word list (2,048 words, each
// identified by its first four letters), as filippo.io/age ships it in
// cmd/age/wordlist.go. Its SHA-256, one word a line, is
// 2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda
// (checked by a test).
//
//go:embed invitewords.txt
var inviteWordList string

// inviteWords holds the word list in order, and inviteIndex each word's and
// each four-letter prefix's index.
var inviteWords, inviteIndex = loadInviteWords()

func loadInviteWords() ([]string, map[string]int) {
	words := strings.Fields(inviteWordList)
	index := make(map[string]int, 2*len(words))
	for i, w := range words {
		index[w] = i
		if len(w) > 4 {
			index[w[:4]] = i
		}
	}
	return words, index
}

// InviteCode is the one-time secret of an invitation: 88 random bits,
// spoken as eight words. It never reaches the relay; only values derived
// from it by HKDF do ([InviteCode.ID], [InviteCode.Lookup], the MAC key).
type InviteCode [InviteBits / 8]byte

// NewInviteCode returns a fresh random code.
func NewInviteCode() (InviteCode, error) {
	var c InviteCode
	if _, err := rand.Read(c[:]); err != nil {
		return c, fmt.Errorf("failed to make an invitation code: %w", err)
	}
	return c, nil
}

// Words returns the code's eight words: the 88 bits, big-endian, in
// groups of 11, each an index into the word list.
func (c InviteCode) Words() []string {
	out := make([]string, 0, InviteWords)
	var acc uint32
	bits := 0
	for _, b := range c {
		acc = acc<<8 | uint32(b)
		bits += 8
		if bits >= 11 {
			bits -= 11
			out = append(out, inviteWords[acc>>bits&0x7ff])
		}
	}
	return out
}

// String returns the code as its words joined by spaces.
func (c InviteCode) String() string { return strings.Join(c.Words(), " ") }

// ParseInviteCode reads a code as a person types it: eight words from the
// word list separated by spaces, '-' or ','; in any case; each word whole
// or by its first four letters. A word not in the list, or the wrong
// number of words, is refused with an error that names it.
func ParseInviteCode(s string) (InviteCode, error) {
	var c InviteCode
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == ' ' || r == '-' || r == ',' || r == '\t' || r == '\n' })
	if len(words) != InviteWords {
		return c, fmt.Errorf("an invitation code is %d words, this has %d: ask for the code again, word by word", InviteWords, len(words))
	}
	var acc uint32
	bits, n := 0, 0
	for i, w := range words {
		idx, ok := inviteIndex[w]
		if !ok {
			return c, fmt.Errorf("word %d of the code, %q, is not in the word list: check its spelling with the person who gave you the code", i+1, w)
		}
		acc = acc<<11 | uint32(idx)
		bits += 11
		for bits >= 8 {
			bits -= 8
			c[n] = byte(acc >> bits)
			n++
		}
	}
	return c, nil
}

// inviteKey derives a 32-byte key from the code with HKDF-SHA256 (no
// salt), with info the context string.
func (c InviteCode) inviteKey(context string) []byte {
	k, err := hkdf.Key(sha256.New, c[:], nil, context, 32)
	if err != nil {
		panic(err) // only for lengths HKDF cannot give
	}
	return k
}

// ID is what the invitee's device shows the relay to fetch and answer the
// invitation: HKDF(code, ContextInviteID).
func (c InviteCode) ID() []byte { return c.inviteKey(ContextInviteID) }

// Lookup is what the relay stores the invitation under:
// Hash(ContextInviteLookup, ID). The relay computes it from the ID it is
// shown, so its stored records alone do not let anyone fetch the
// invitation.
func (c InviteCode) Lookup() [32]byte { return InviteLookup(c.ID()) }

// InviteLookup is the relay's key of the invitation whose ID is id.
func InviteLookup(id []byte) [32]byte { return Hash(ContextInviteLookup, id) }

// macKey authenticates the invitation and its answer:
// HKDF(code, ContextInviteMAC).
func (c InviteCode) macKey() []byte { return c.inviteKey(ContextInviteMAC) }
