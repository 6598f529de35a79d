package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/nats-io/nats.go/jetstream"

	"brieftraeger/client"
	"brieftraeger/internal/testrelay"
)

// TestForwardSecrecy: washington receives letters sealed to its epochs 1,
// 2 and 3, then destroys epochs 1 and 2. Everything washington's device
// holds (every file of its folder, its keystore opened with the
// passphrase) and everything the relay holds (every message of every
// JetStream stream, the epoch bundles among them) then yields no age
// identity that opens the letters sealed to epochs 1 and 2, while their
// archived plaintext still reads and the letter sealed to epoch 3 still
// opens. The same search run before the destruction opens them all: the
// test can tell.
func TestForwardSecrecy(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	var letters []string // the letter sealed to epoch i+1
	sentBefore := sendTo(t, wash, "tehran", "sealed to tehran and to washington's epoch 1")
	for epoch := 1; epoch <= 3; epoch++ {
		if epoch > 1 {
			if _, err := wash.RotateEpoch(ctx, client.EpochOptions{}); err != nil {
				t.Fatal(err)
			}
			refresh(t, teh, "washington")
		}
		id := sendTo(t, teh, "washington", "letter to epoch "+string(rune('0'+epoch)))
		if _, err := wash.Receive(ctx, id); err != nil {
			t.Fatal(err)
		}
		letters = append(letters, id)
	}
	sealed := make([][]byte, 3)
	for i, id := range letters {
		sealed[i] = mustRead(t, filepath.Join(wash.LetterDir(id), client.SealedName))
	}
	bundle2, err := w.Store.EpochBundle(ctx, "washington", 2)
	if err != nil {
		t.Fatal(err)
	}
	relayDir := filepath.Join(w.Base, "relay")

	// Before: the attacker's search opens every letter, and the bundle of
	// epoch 2 lies in the relay's files.
	ids := recoverIdentities(t, append(folderBlobs(t, wash.Dir()), relayBlobs(t, w)...))
	for i := range sealed {
		if !opens(sealed[i], ids) {
			t.Fatalf("before destruction: the search found no key for the letter to epoch %d", i+1)
		}
	}
	if where := filesHolding(t, relayDir, bundle2); len(where) == 0 {
		t.Fatal("before destruction: the bundle of epoch 2 is in none of the relay's files")
	}

	ch, err := wash.DestroyEpochs(ctx, []uint32{1, 2}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Destroyed) != 2 || ch.Roster.Epoch(1) != nil || ch.Roster.Epoch(2) != nil {
		t.Fatalf("destruction: %+v", ch)
	}

	// After: nothing on the device or at the relay opens them.
	ids = recoverIdentities(t, append(folderBlobs(t, wash.Dir()), relayBlobs(t, w)...))
	for i := range 2 {
		if opens(sealed[i], ids) {
			t.Fatalf("after destruction: a key recovered from the device and the relay opens the letter to epoch %d", i+1)
		}
	}
	if !opens(sealed[2], ids) {
		t.Fatal("after destruction: the letter to epoch 3 no longer opens")
	}
	if where := filesHolding(t, relayDir, bundle2); len(where) != 0 {
		t.Fatalf("after destruction: the bundle of epoch 2 is still in the relay's files %v", where)
	}
	if where := filesHolding(t, wash.Dir(), bundle2); len(where) != 0 {
		t.Fatalf("after destruction: the bundle of epoch 2 is still in the device's files %v", where)
	}
	if _, err := w.Store.EpochBundle(ctx, "washington", 2); err == nil {
		t.Fatal("the relay still serves the bundle of epoch 2")
	}

	// The archive's plaintext still reads; the sealed copies say why they
	// do not open.
	for i, id := range letters {
		sh, err := wash.Show(id)
		if err != nil {
			t.Fatal(err)
		}
		body := mustRead(t, filepath.Join(sh.Dir, "body.txt"))
		if !strings.Contains(string(body), "letter to epoch "+string(rune('1'+i))) {
			t.Fatalf("archive of letter %d: %q", i+1, body)
		}
	}
	sh, err := wash.Show(sentBefore)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sh.NoText, "letter "+sentBefore+": sealed to epoch 1, destroyed on ") {
		t.Fatalf("sent letter sealed to a destroyed epoch: %q", sh.NoText)
	}
	ex, err := wash.Export(ctx, letters[1], filepath.Join(t.TempDir(), "export"))
	if err != nil {
		t.Fatal(err)
	}
	if ex.Epoch != 0 || !strings.HasPrefix(ex.EpochDestroyed, "sealed to epoch 2, destroyed on ") {
		t.Fatalf("export of a letter sealed to a destroyed epoch: epoch %d, %q", ex.Epoch, ex.EpochDestroyed)
	}
	summary := mustRead(t, filepath.Join(ex.Dir, "summary.txt"))
	if !bytes.Contains(summary, []byte("letter.age is sealed to epoch 2, destroyed on ")) {
		t.Fatalf("summary.txt:\n%s", summary)
	}
	// It holds only epoch 3, and so does the folder opened again.
	again, err := client.Load(wash.Dir(), testrelay.Passphrase, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	for _, p := range []*client.Party{wash, again} {
		if got := heldEpochs(p); len(got) != 1 || got[0] != 3 {
			t.Fatalf("held after destruction: %v", got)
		}
	}
}

// folderBlobs returns every file in dir, and the device keystore's
// plaintext, opened with the passphrase.
func folderBlobs(t *testing.T, dir string) [][]byte {
	t.Helper()
	var out [][]byte
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		out = append(out, b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	pass, err := age.NewScryptIdentity(testrelay.Passphrase)
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.Decrypt(bytes.NewReader(mustRead(t, filepath.Join(dir, "keys.age"))), pass)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, ks)
}

// relayBlobs returns every message (headers and data) of every JetStream
// stream of the relay's store.
func relayBlobs(t *testing.T, w *testrelay.World) [][]byte {
	t.Helper()
	ctx := context.Background()
	js := w.Store.JetStream()
	var out [][]byte
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			} else if err != nil {
				t.Fatal(err)
			}
			for k, vs := range m.Header {
				out = append(out, []byte(k+": "+strings.Join(vs, ",")))
			}
			out = append(out, m.Data)
		}
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	ageKeyPattern = regexp.MustCompile(`AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]+`)
	ageHeader     = []byte("age-encryption.org/v1\n")
)

// recoverIdentities is the attacker: it collects every age identity
// written out in blobs, opens every age file found in them (at any
// offset) with the identities known so far and searches the plaintext
// too, until no new identity turns up.
func recoverIdentities(t *testing.T, blobs [][]byte) []age.Identity {
	t.Helper()
	var ids []age.Identity
	known := map[string]bool{}
	opened := map[[32]byte]bool{}
	for changed := true; changed; {
		changed = false
		for i := 0; i < len(blobs); i++ {
			for _, m := range ageKeyPattern.FindAll(blobs[i], -1) {
				if known[string(m)] {
					continue
				}
				known[string(m)] = true
				if id, err := age.ParseHybridIdentity(string(m)); err == nil {
					ids, changed = append(ids, id), true
				} else if id, err := age.ParseX25519Identity(string(m)); err == nil {
					ids, changed = append(ids, id), true
				}
			}
			for off := 0; len(ids) > 0; {
				k := bytes.Index(blobs[i][off:], ageHeader)
				if k < 0 {
					break
				}
				off += k
				if plain, ok := decrypt(blobs[i][off:], ids); ok {
					if h := sha256.Sum256(plain); !opened[h] {
						opened[h] = true
						blobs = append(blobs, plain)
					}
				}
				off++
			}
		}
	}
	return ids
}

// decrypt opens an age file (perhaps followed by other bytes) with ids.
func decrypt(b []byte, ids []age.Identity) ([]byte, bool) {
	r, err := age.Decrypt(bytes.NewReader(b), ids...)
	if err != nil {
		return nil, false
	}
	plain, _ := io.ReadAll(io.LimitReader(r, 4<<20)) // what was read before trailing data counts
	return plain, len(plain) > 0
}

// opens reports whether any of ids opens the sealed letter.
func opens(sealed []byte, ids []age.Identity) bool {
	if len(ids) == 0 {
		return false
	}
	_, err := age.Decrypt(bytes.NewReader(sealed), ids...)
	return err == nil
}

// filesHolding returns the files under dir that hold the last 256 bytes
// of b (in an age file, ciphertext no other file has by chance).
func filesHolding(t *testing.T, dir string, b []byte) []string {
	t.Helper()
	tail := b[len(b)-256:]
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, tail) {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
