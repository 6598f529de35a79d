package letter

import (
	"bytes"
	"crypto/ed25519"
	"io"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"brieftraeger/envelope"
	"brieftraeger/identity"
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
	f.toEp = identity.Epoch{Number: 7, Recipient: f.to.Recipient().String(), NotAfter: exp}
	f.selfEp = identity.Epoch{Number: 3, Recipient: f.self.Recipient().String(), NotAfter: exp}
	f.devPub, f.devKey, _ = ed25519.GenerateKey(nil)
	f.attachment = bytes.Repeat([]byte("%PDF-1.7 marker "), 5000)
	return f
}

func (f *fixture) draft() *Draft {
	return &Draft{
		From: "washington", Device: "laptop", To: "tehran", Seq: 1,
		Precedence: envelope.Flash, Subject: "proposal", Body: []byte("text of the letter"),
		Attachments: []Attachment{{Name: "proposal.pdf", MediaType: "application/pdf", Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(f.attachment)), nil
		}}},
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
// plaintext whose attachment differs from the digest in the signed header.
func TestForgedContentUnderValidSignature(t *testing.T) {
	f := newFixture(t)
	h, err := header(f.draft(), 7, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.sign(f.devKey); err != nil {
		t.Fatal(err)
	}
	d := f.draft()
	f.attachment = bytes.Clone(f.attachment)
	f.attachment[10] ^= 1
	var buf bytes.Buffer
	aw, _ := age.Encrypt(&buf, f.to.Recipient())
	n, err := writePlaintext(aw, h, d)
	if err != nil {
		t.Fatal(err)
	}
	pad(aw, n)
	aw.Close()
	_, _, err = f.open(buf.Bytes(), f.to)
	if err == nil || !strings.Contains(err.Error(), "does not match its signed digest") {
		t.Fatalf("want digest mismatch, got %v", err)
	}
}
