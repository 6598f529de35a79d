package letter

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"filippo.io/age"

	"brieftraeger/envelope"
	"brieftraeger/identity"

	"brieftraeger/internal/testvec"
)

type fixture struct {
	to, self      *age.HybridIdentity
	toEp, selfEp  identity.Epoch
	devPub        ed25519.PublicKey
	devKey        ed25519.PrivateKey
	other         *age.HybridIdentity
	attachment    []byte
	expectedParts int
}

func newFixture(t testing.TB) *fixture {
	f := &fixture{}
	var err error
	for _, p := range []**age.HybridIdentity{&f.to, &f.self, &f.other} {
		if *p, err = age.GenerateHybridIdentity(); err != nil {
			t.Fatal(err)
		}
	}
	exp := time.Now().Add(time.Hour)
	if f.toEp, err = identity.NewEpoch(7, f.to.Recipient().String(), exp); err != nil {
		t.Fatal(err)
	}
	if f.selfEp, err = identity.NewEpoch(3, f.self.Recipient().String(), exp); err != nil {
		t.Fatal(err)
	}
	f.devPub, f.devKey, _ = ed25519.GenerateKey(nil)
	f.attachment = bytes.Repeat([]byte("%PDF-1.7 marker "), 5000)
	return f
}

func (f *fixture) draft() *Draft {
	return &Draft{
		From: "washington", Device: "laptop", To: "tehran", Seq: 1,
		Precedence: envelope.Flash, Subject: "proposal", Body: []byte("text of the letter"),
		Attachments: []Attachment{{Name: "proposal.pdf", MediaType: "application/pdf", Size: int64(len(f.attachment)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.attachment)), nil }}},
	}
}

func (f *fixture) seal(t testing.TB) ([]byte, *Header) {
	var buf bytes.Buffer
	h, err := Seal(&buf, f.draft(), f.devKey, f.toEp, f.selfEp)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), h
}

func (f *fixture) open(sealed []byte, id age.Identity) (*Header, [][]byte, error) {
	var parts []*bytes.Buffer
	h, err := Open(bytes.NewReader(sealed), []age.Identity{id},
		func(h *Header) error { return h.Verify(f.devPub) },
		func(i int, p PartInfo) (io.Writer, error) {
			parts = append(parts, new(bytes.Buffer))
			return parts[i], nil
		})
	var out [][]byte
	for _, p := range parts {
		out = append(out, p.Bytes())
	}
	return h, out, err
}

func TestSealOpenRoundTrip(t *testing.T) {
	f := newFixture(t)
	sealed, sh := f.seal(t)
	for name, id := range map[string]age.Identity{"recipient": f.to, "sender": f.self} {
		h, parts, err := f.open(sealed, id)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if h.ID != sh.ID || h.Subject != "proposal" || h.Epoch != 7 || h.SenderEpoch != 3 || len(parts) != 2 {
			t.Fatalf("%s: header mismatch: %+v", name, h)
		}
		if string(parts[0]) != "text of the letter" || !bytes.Equal(parts[1], f.attachment) {
			t.Fatalf("%s: content mismatch", name)
		}
	}
	if _, _, err := f.open(sealed, f.other); err == nil {
		t.Fatal("a third party opened the letter")
	}
}

func TestSealedSizeIsPadded(t *testing.T) {
	f := newFixture(t)
	sizes := map[int]bool{}
	for _, n := range []int{0, 1, 100, 3000} {
		d := f.draft()
		d.Attachments = nil
		d.Body = bytes.Repeat([]byte("a"), n)
		var buf bytes.Buffer
		if _, err := Seal(&buf, d, f.devKey, f.toEp, f.selfEp); err != nil {
			t.Fatal(err)
		}
		sizes[buf.Len()] = true
	}
	if len(sizes) != 1 {
		t.Fatalf("small letters of different lengths sealed to different sizes: %v", sizes)
	}
}

// TestTamper flips one byte at many offsets of a sealed letter and asserts
// that opening fails every time.
func TestTamper(t *testing.T) {
	f := newFixture(t)
	sealed, _ := f.seal(t)
	step := len(sealed) / 97
	for off := 0; off < len(sealed); off += step {
		bad := bytes.Clone(sealed)
		bad[off] ^= 0x01
		if _, _, err := f.open(bad, f.to); err == nil {
			t.Fatalf("flipped byte at %d of %d went unnoticed", off, len(sealed))
		}
	}
	if _, _, err := f.open(sealed[:len(sealed)-1], f.to); err == nil {
		t.Fatal("truncated letter opened")
	}
}

func TestWrongSigner(t *testing.T) {
	f := newFixture(t)
	sealed, _ := f.seal(t)
	f.devPub, _, _ = ed25519.GenerateKey(nil)
	_, _, err := f.open(sealed, f.to)
	if err == nil || !strings.Contains(err.Error(), "bad signature") {
		t.Fatalf("want bad signature, got %v", err)
	}
}

// TestForgedContentUnderValidSignature seals, with a valid age layer, a
// plaintext whose attachment differs from the digest in the signed trailer.
func TestForgedContentUnderValidSignature(t *testing.T) {
	f := newFixture(t)
	var discard bytes.Buffer
	h, err := Seal(&discard, f.draft(), f.devKey, f.toEp, f.selfEp)
	if err != nil {
		t.Fatal(err)
	}
	forged := bytes.Clone(f.attachment)
	forged[10] ^= 1
	var pt bytes.Buffer
	pt.WriteString(Magic)
	binary.Write(&pt, binary.BigEndian, uint32(len(h.Raw)))
	pt.Write(h.Raw)
	pt.Write(f.draft().Body)
	pt.Write(forged)
	pt.Write(h.Trailer())
	pad(&pt, int64(pt.Len()))
	var buf bytes.Buffer
	aw, _ := age.Encrypt(&buf, f.to.Recipient())
	aw.Write(pt.Bytes())
	aw.Close()
	_, _, err = f.open(buf.Bytes(), f.to)
	if err == nil || !strings.Contains(err.Error(), "does not match its signed digest") {
		t.Fatalf("want digest mismatch, got %v", err)
	}
}

// sealPlaintextTo seals a hand-made plaintext to the fixture's recipient
// epoch, as Seal would.
func (f *fixture) sealPlaintextTo(t testing.TB, pt []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	aw, err := age.Encrypt(&buf, f.to.Recipient(), f.self.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	aw.Write(pt)
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// plaintext returns the plaintext that Seal writes for d, and its header.
func (f *fixture) plaintext(t testing.TB, d *Draft) ([]byte, *Header) {
	t.Helper()
	h, err := header(d, f.toEp.Number, f.selfEp.Number)
	if err != nil {
		t.Fatal(err)
	}
	if h.Raw, err = h.encode(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writePlaintext(&buf, h, d, f.devKey); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), h
}

// TestOpenRefusesWrongDigest builds letters whose trailer carries a digest
// that does not match the content: signed by the sender over the wrong
// digest, or with the digest changed to the forged content's under the
// original signature.
func TestOpenRefusesWrongDigest(t *testing.T) {
	f := newFixture(t)
	d := f.draft()
	pt, h := f.plaintext(t, d)
	trStart := len(Magic) + 4 + len(h.Raw) + len(d.Body) + len(f.attachment)
	if !bytes.Equal(pt[trStart:trStart+h.trailerLen()], h.Trailer()) {
		t.Fatal("trailer is not where docs/PROTOCOL.md puts it")
	}
	if _, _, err := f.open(f.sealPlaintextTo(t, pt), f.to); err != nil {
		t.Fatalf("untouched plaintext: %v", err)
	}
	withTrailer := func(pt []byte, h *Header) []byte {
		b := bytes.Clone(pt)
		copy(b[trStart:], h.Trailer())
		return b
	}

	for i := range h.Parts {
		// The sender signs a wrong digest: the signature is valid, the
		// content does not match.
		w := *h
		w.Parts = slices.Clone(h.Parts)
		w.Parts[i].Digest[7] ^= 1
		w.Sig = identity.Sign(f.devKey, ContextLetter, w.SignedMessage())
		if err := w.Verify(f.devPub); err != nil {
			t.Fatal(err)
		}
		_, _, err := f.open(f.sealPlaintextTo(t, withTrailer(pt, &w)), f.to)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("part %d", i)) ||
			!strings.Contains(err.Error(), "does not match its signed digest") {
			t.Errorf("part %d: signed wrong digest: %v", i, err)
		}
		// Digest of some other content, such as another part's.
		w.Parts[i].Digest = h.Parts[1-i].Digest
		w.Sig = identity.Sign(f.devKey, ContextLetter, w.SignedMessage())
		if _, _, err := f.open(f.sealPlaintextTo(t, withTrailer(pt, &w)), f.to); err == nil ||
			!strings.Contains(err.Error(), "does not match its signed digest") {
			t.Errorf("part %d: other part's digest: %v", i, err)
		}
	}

	// The content is forged and the trailer's digest changed to match it,
	// under the original signature.
	forged := bytes.Clone(pt)
	off := len(Magic) + 4 + len(h.Raw) + len(d.Body) + 1234
	forged[off] ^= 1
	w := *h
	w.Parts = slices.Clone(h.Parts)
	w.Parts[1].Digest = identity.Hash(ContextPart, forged[off-1234:off-1234+len(f.attachment)])
	_, _, err := f.open(f.sealPlaintextTo(t, withTrailer(forged, &w)), f.to)
	if err == nil || !strings.Contains(err.Error(), "bad signature") {
		t.Errorf("forged content with matching digest: %v", err)
	}
	// The two digests swapped.
	w.Parts[0].Digest, w.Parts[1].Digest = h.Parts[1].Digest, h.Parts[0].Digest
	if _, _, err := f.open(f.sealPlaintextTo(t, withTrailer(pt, &w)), f.to); err == nil {
		t.Error("swapped digests opened")
	}
}

// TestLargePart seals and opens attachments around and above the size from
// which digests are computed on a second goroutine, and checks that a
// flipped byte anywhere in a large part is caught by its digest.
func TestLargePart(t *testing.T) {
	f := newFixture(t)
	sizes := []int{asyncThreshold - 1, asyncThreshold, 3*asyncThreshold + 12345}
	for _, size := range sizes {
		content := testvec.Bytes(fmt.Sprint("large ", size), size)
		d := f.draft()
		d.Attachments = append(d.Attachments, Attachment{Name: "large.bin", MediaType: "application/octet-stream",
			Size: int64(size), Open: func() (io.ReadCloser, error) {
				return io.NopCloser(iotest.HalfReader(bytes.NewReader(content))), nil
			}})
		var sealed bytes.Buffer
		sh, err := Seal(&sealed, d, f.devKey, f.toEp, f.selfEp)
		if err != nil {
			t.Fatal(err)
		}
		if sh.Parts[2].Size != uint64(size) || !bytes.Equal(sh.Parts[2].Digest[:], testvec.SpecHash(ContextPart, content)) {
			t.Fatalf("%d bytes: size or digest in the header is wrong", size)
		}
		for name, id := range map[string]age.Identity{"recipient": f.to, "sender": f.self} {
			h, parts, err := f.open(sealed.Bytes(), id)
			if err != nil {
				t.Fatalf("%d bytes, %s: %v", size, name, err)
			}
			if len(parts) != 3 || !bytes.Equal(parts[2], content) || !bytes.Equal(parts[1], f.attachment) ||
				!slices.Equal(h.Parts, sh.Parts) {
				t.Fatalf("%d bytes, %s: content or header differs", size, name)
			}
		}
		if size < asyncThreshold {
			continue
		}
		pt, h := f.plaintext(t, d)
		start := len(Magic) + 4 + len(h.Raw) + len(d.Body) + len(f.attachment)
		if !bytes.Equal(pt[start:start+size], content) {
			t.Fatal("large part is not where docs/PROTOCOL.md puts it")
		}
		for _, off := range []int{0, 1, 64<<10 - 1, 64 << 10, size / 2, size - 1} {
			bad := bytes.Clone(pt)
			bad[start+off] ^= 0x20
			_, _, err := f.open(f.sealPlaintextTo(t, bad), f.to)
			if err == nil || !strings.Contains(err.Error(), `part 2 ("large.bin"): content does not match its signed digest`) {
				t.Errorf("%d bytes, byte %d flipped: %v", size, off, err)
			}
		}
		// Cut short, with the trailer and padding after it: reading the
		// part eats into them and the letter is refused.
		short := append(bytes.Clone(pt[:start+size-100]), pt[start+size:]...)
		if _, _, err := f.open(f.sealPlaintextTo(t, short), f.to); err == nil {
			t.Errorf("%d bytes: part 100 bytes short opened", size)
		}
	}
}

// TestDigester checks the part hash, synchronous and on a second goroutine,
// against SHA-256 over the context line and the content, whatever the
// sizes of the writes, including writes larger than its buffers.
func TestDigester(t *testing.T) {
	content := testvec.Bytes("digester", 2<<20+3)
	want := testvec.SpecHash(ContextPart, content)
	for _, size := range []uint64{0, asyncThreshold - 1, asyncThreshold, uint64(len(content))} {
		for _, chunk := range []int{1, 1000, 64 << 10, 64<<10 + 1, 1 << 20, len(content)} {
			if chunk == 1 && size >= asyncThreshold {
				continue // slow, and no different from 1000
			}
			d := newDigester(size)
			for b := []byte(content); len(b) > 0; {
				k := min(chunk, len(b))
				w := bytes.Clone(b[:k])
				if n, err := d.Write(w); n != k || err != nil {
					t.Fatalf("Write: %d, %v", n, err)
				}
				clear(w) // the digester copies what it is given
				b = b[k:]
			}
			if got := d.Sum(); !bytes.Equal(got[:], want) {
				t.Errorf("size hint %d, writes of %d: wrong digest", size, chunk)
			}
			d.stop()
		}
	}
	// An unfinished digester stops without leaking its goroutine.
	d := newDigester(asyncThreshold)
	d.Write(content[:100])
	d.stop()
	d.stop()
}
