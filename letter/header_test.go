package letter

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
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

func testLetterHeader() *Header {
	return &Header{ID: envelope.ID{1}, From: "washington", Device: "laptop", To: "tehran", Office: "foreign-minister",
		Seq: 3, Epoch: 7, SenderEpoch: 2, Created: time.UnixMilli(letterCreated), Precedence: envelope.Priority,
		Subject: "subject", Thread: bytes.Repeat([]byte{1}, 16), ReplyTo: bytes.Repeat([]byte{2}, 16),
		Parts: []PartInfo{
			{MediaType: BodyMediaType, Size: 5, Digest: identity.Hash(ContextPart, []byte("hello"))},
			{Name: "a.pdf", MediaType: "application/pdf", Size: 0, Digest: identity.Hash(ContextPart)},
		}}
}

func TestHeaderRoundTrip(t *testing.T) {
	h := testLetterHeader()
	if err := h.sign(testvec.Key("washington-laptop")); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Raw, specHeader(h)) {
		t.Fatal("encoding does not follow docs/PROTOCOL.md")
	}
	digests := [][]byte{h.Parts[0].Digest[:], h.Parts[1].Digest[:]}
	if !bytes.Equal(h.SignedMessage(), specSignedMessage(h.Raw, digests)) ||
		!bytes.Equal(h.Sig, testvec.SpecSign(testvec.Key("washington-laptop"), ContextLetter, specSignedMessage(h.Raw, digests))) ||
		!bytes.Equal(h.Trailer(), specTrailer(digests, h.Sig)) {
		t.Fatal("signed message, signature or trailer does not follow docs/PROTOCOL.md")
	}
	got, err := ParseHeader(h.Raw, h.Trailer())
	if err != nil {
		t.Fatal(err)
	}
	h.Created = h.Created.UTC()
	if !headerEqual(got, h) {
		t.Fatalf("round trip changed the header:\n got %+v\nwant %+v", got, h)
	}
	if err := got.Verify(testvec.Pub("washington-laptop")); err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(testvec.Pub("tehran-laptop")); err == nil || !strings.Contains(err.Error(), "bad signature") {
		t.Fatalf("other key: %v", err)
	}
	// Without a trailer, the header parses with zero digests and no
	// signature, and does not verify.
	bare, err := ParseHeader(h.Raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bare.Sig != nil || bare.Parts[0].Digest != [32]byte{} || bare.Verify(testvec.Pub("washington-laptop")) == nil {
		t.Fatal("a header without its trailer carries digests or verifies")
	}
}

// TestHeaderTamper flips every bit of a signed letter header and of its
// trailer (the part digests and the signature): each must be refused by
// ParseHeader or by Verify.
func TestHeaderTamper(t *testing.T) {
	h := testLetterHeader()
	if err := h.sign(testvec.Key("washington-laptop")); err != nil {
		t.Fatal(err)
	}
	pub := testvec.Pub("washington-laptop")
	trailer := h.Trailer()
	if p, err := ParseHeader(h.Raw, trailer); err != nil || p.Verify(pub) != nil {
		t.Fatalf("untouched header: %v", err)
	}
	for i := range h.Raw {
		for bit := range 8 {
			bad := bytes.Clone(h.Raw)
			bad[i] ^= 1 << bit
			if p, err := ParseHeader(bad, trailer); err == nil && p.Verify(pub) == nil {
				t.Fatalf("bit %d of header byte %d flipped: still verifies", bit, i)
			}
		}
	}
	for i := range trailer {
		for bit := range 8 {
			bad := bytes.Clone(trailer)
			bad[i] ^= 1 << bit
			p, err := ParseHeader(h.Raw, bad)
			if err != nil {
				t.Fatal(err)
			}
			if p.Verify(pub) == nil {
				t.Fatalf("bit %d of trailer byte %d (%s) flipped: still verifies", bit, i,
					map[bool]string{true: "digest", false: "signature"}[i < 32*len(h.Parts)])
			}
		}
	}
	twoDigests := trailer[:64]
	for _, c := range []struct{ raw, trailer []byte }{
		{h.Raw[:len(h.Raw)-1], trailer}, {append(bytes.Clone(h.Raw), 0), trailer},
		{h.Raw, trailer[:len(trailer)-1]}, {h.Raw, append(bytes.Clone(trailer), 0)},
		{h.Raw, trailer[32:]}, {h.Raw, append(bytes.Clone(trailer), make([]byte, 32)...)},
		{h.Raw, h.Sig}, {h.Raw, twoDigests}, {h.Raw, []byte{}}, {nil, trailer}, {h.Raw, nil},
	} {
		if p, err := ParseHeader(c.raw, c.trailer); err == nil && p.Verify(pub) == nil {
			t.Fatalf("%d/%d-byte variant verified", len(c.raw), len(c.trailer))
		}
	}
	// The same header and digests signed under another context, or the
	// header alone signed as the old layout did, do not verify.
	oldMessage := h.Raw
	for _, c := range []struct {
		ctx string
		msg []byte
	}{
		{envelope.ContextEnvelope, h.SignedMessage()}, {envelope.ContextReceipt, h.SignedMessage()},
		{identity.ContextRoster, h.SignedMessage()}, {ContextPart, h.SignedMessage()},
		{"brieftraeger/v1 letter-header", h.SignedMessage()}, {"brieftraeger/v1 letter-header", oldMessage},
		{ContextLetter, oldMessage}, {ContextLetter, h.SignedMessage()[4:]},
	} {
		sig := identity.Sign(testvec.Key("washington-laptop"), c.ctx, c.msg)
		p, err := ParseHeader(h.Raw, append(trailer[:32*len(h.Parts):32*len(h.Parts)], sig...))
		if err != nil {
			t.Fatal(err)
		}
		if p.Verify(pub) == nil {
			t.Fatalf("signature under context %q over %d bytes verified", c.ctx, len(c.msg))
		}
	}
}

func TestHeaderSignRefuses(t *testing.T) {
	for name, edit := range map[string]func(h *Header){
		"bad from":             func(h *Header) { h.From = "Washington" },
		"bad device":           func(h *Header) { h.Device = "" },
		"bad to":               func(h *Header) { h.To = "-tehran" },
		"bad office":           func(h *Header) { h.Office = "Foreign Minister" },
		"seq 0":                func(h *Header) { h.Seq = 0 },
		"precedence 4":         func(h *Header) { h.Precedence = 4 },
		"long subject":         func(h *Header) { h.Subject = strings.Repeat("s", MaxSubjectLen+1) },
		"15-byte thread":       func(h *Header) { h.Thread = h.Thread[:15] },
		"17-byte reply-to":     func(h *Header) { h.ReplyTo = append(h.ReplyTo, 0) },
		"no parts":             func(h *Header) { h.Parts = nil },
		"too many parts":       func(h *Header) { h.Parts = append(h.Parts, make([]PartInfo, MaxParts)...) },
		"named body":           func(h *Header) { h.Parts[0].Name = "body.txt" },
		"unnamed attachment":   func(h *Header) { h.Parts[1].Name = "" },
		"slash":                func(h *Header) { h.Parts[1].Name = "a/b" },
		"backslash":            func(h *Header) { h.Parts[1].Name = `a\b` },
		"nul":                  func(h *Header) { h.Parts[1].Name = "a\x00" },
		"dot":                  func(h *Header) { h.Parts[1].Name = "." },
		"dot dot":              func(h *Header) { h.Parts[1].Name = ".." },
		"long name":            func(h *Header) { h.Parts[1].Name = strings.Repeat("n", MaxPartName+1) },
		"no creation time":     func(h *Header) { h.Created = time.Time{} },
		"created at epoch":     func(h *Header) { h.Created = time.UnixMilli(0) },
		"created after 2^50":   func(h *Header) { h.Created = time.UnixMilli(maxCreated + 1) },
		"part over 2^62":       func(h *Header) { h.Parts[1].Size = maxContentSize + 1 },
		"part of 2^64-1":       func(h *Header) { h.Parts[1].Size = math.MaxUint64 },
		"parts over 2^62":      func(h *Header) { h.Parts[0].Size, h.Parts[1].Size = maxContentSize/2+1, maxContentSize/2 },
		"parts wrap to small":  func(h *Header) { h.Parts[0].Size, h.Parts[1].Size = 1<<63, 1<<63 },
		"attachment not named": func(h *Header) { h.Parts = append(h.Parts, PartInfo{}) },
		"same name twice":      func(h *Header) { h.Parts = append(h.Parts, PartInfo{Name: "a.pdf", MediaType: "text/plain"}) },
	} {
		h := testLetterHeader()
		edit(h)
		if err := h.sign(testvec.Key("washington-laptop")); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
	// The edges that are allowed.
	for name, edit := range map[string]func(h *Header){
		"no office":         func(h *Header) { h.Office = "" },
		"no thread":         func(h *Header) { h.Thread, h.ReplyTo = nil, nil },
		"longest subject":   func(h *Header) { h.Subject = strings.Repeat("s", MaxSubjectLen) },
		"longest name":      func(h *Header) { h.Parts[1].Name = strings.Repeat("n", MaxPartName) },
		"dotted name":       func(h *Header) { h.Parts[1].Name = "..." },
		"most parts":        func(h *Header) { h.Parts = h.Parts[:1]; addParts(h, MaxParts-1) },
		"latest time":       func(h *Header) { h.Created = time.UnixMilli(maxCreated) },
		"largest content":   func(h *Header) { h.Parts[0].Size, h.Parts[1].Size = maxContentSize-1, 1 },
		"body only":         func(h *Header) { h.Parts = h.Parts[:1] },
		"empty media types": func(h *Header) { h.Parts[0].MediaType, h.Parts[1].MediaType = "", "" },
		"names unlike in case": func(h *Header) {
			h.Parts = append(h.Parts, PartInfo{Name: "A.pdf"}, PartInfo{Name: "a.pdf "})
		},
	} {
		h := testLetterHeader()
		edit(h)
		if err := h.sign(testvec.Key("washington-laptop")); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		p, err := ParseHeader(h.Raw, h.Trailer())
		if err != nil {
			t.Errorf("%s: signed but does not parse: %v", name, err)
		} else if err := p.Verify(testvec.Pub("washington-laptop")); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func addParts(h *Header, n int) {
	for i := range n {
		h.Parts = append(h.Parts, PartInfo{Name: "p" + strings.Repeat("x", i%200) + string(rune('a'+i/200))})
	}
}

func TestParseHeaderRefuses(t *testing.T) {
	h := testLetterHeader()
	if err := h.sign(testvec.Key("washington-laptop")); err != nil {
		t.Fatal(err)
	}
	big := append(bytes.Clone(h.Raw), make([]byte, MaxHeaderLen)...)
	for name, raw := range map[string][]byte{
		"empty":          nil,
		"version 0":      append([]byte{0}, h.Raw[1:]...),
		"version 3":      append([]byte{3}, h.Raw[1:]...),
		"version 1 body": append([]byte{1}, h.Raw[1:]...),
		"trailing byte":  append(bytes.Clone(h.Raw), 0),
		"truncated":      h.Raw[:len(h.Raw)-1],
		"too long":       big,
	} {
		if _, err := ParseHeader(raw, h.Trailer()); err == nil {
			t.Errorf("%s: parsed", name)
		} else if !strings.HasPrefix(err.Error(), "malformed letter header") {
			t.Errorf("%s: error %q lacks the prefix", name, err)
		}
	}
	// A header signed with attachments a.pdf and b.pdf, edited to name
	// both a.pdf: a receiver would store the second over the first.
	twice := testLetterHeader()
	twice.Parts = append(twice.Parts, PartInfo{Name: "b.pdf"})
	if err := twice.sign(testvec.Key("washington-laptop")); err != nil {
		t.Fatal(err)
	}
	raw := bytes.Replace(twice.Raw, []byte("b.pdf"), []byte("a.pdf"), 1)
	if _, err := ParseHeader(raw, twice.Trailer()); err == nil || !strings.Contains(err.Error(), `two attachments named "a.pdf"`) {
		t.Errorf("two attachments of one name: %v", err)
	}
	tr := h.Trailer()
	for name, trailer := range map[string][]byte{
		"empty trailer":      {},
		"signature only":     h.Sig,
		"one digest missing": tr[32:],
		"one digest extra":   append(make([]byte, 32), tr...),
		"short signature":    tr[:len(tr)-1],
		"trailing byte":      append(bytes.Clone(tr), 0),
	} {
		if _, err := ParseHeader(h.Raw, trailer); err == nil {
			t.Errorf("%s: parsed", name)
		} else if !strings.HasPrefix(err.Error(), "malformed letter trailer") {
			t.Errorf("%s: error %q lacks the prefix", name, err)
		}
	}
}

// sealPlaintext seals an arbitrary plaintext as a letter would be, to an
// X25519 identity, so that tests can reach Open's checks with hand-made
// plaintexts.
func sealPlaintext(t testing.TB, id *age.X25519Identity, plaintext []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plaintext)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestOpenRefusesLyingPartSize seals a correctly signed letter whose header
// claims a part of 2^64-1 bytes with the digest of no content. Open used to
// read no bytes for it (the size turned negative as an int64), accept the
// empty digest and return the header with the impossible size.
func TestOpenRefusesLyingPartSize(t *testing.T) {
	h := testLetterHeader()
	h.Parts[1] = PartInfo{Name: "huge.bin", MediaType: "application/octet-stream", Size: math.MaxUint64, Digest: identity.Hash(ContextPart)}
	h.Raw = specHeader(h)
	h.Sig = identity.Sign(testvec.Key("washington-laptop"), ContextLetter, h.SignedMessage())
	pt := binary.BigEndian.AppendUint32([]byte(Magic), uint32(len(h.Raw)))
	pt = append(append(append(pt, h.Raw...), "hello"...), h.Trailer()...)
	n := int64(len(pt)) - 1 // what Open counted
	pt = append(pt, make([]byte, envelope.PaddedSize(n)-n)...)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(bytes.NewReader(sealPlaintext(t, id, pt)), []age.Identity{id},
		func(h *Header) error { return h.Verify(testvec.Pub("washington-laptop")) },
		func(int, PartInfo) (io.Writer, error) { return io.Discard, nil })
	if err == nil {
		t.Fatal("a header with a part of 2^64-1 bytes opened")
	}
}

// TestOpenVerifiesAfterContent asserts that verify sees the header only
// once every part has been streamed in full and the trailer read, with the
// trailer's digests and signature in it; and that when verify refuses, Open
// returns its error and no header, so that a caller throws away what its
// sinks received.
func TestOpenVerifiesAfterContent(t *testing.T) {
	f := newFixture(t)
	sealed, sh := f.seal(t)
	env := &envelope.Header{ID: sh.ID, From: sh.From, Device: sh.Device, To: sh.To, Epoch: sh.Epoch, Precedence: sh.Precedence}
	refuse := errors.New("refused")
	for name, check := range map[string]VerifyFunc{
		"refuses":     func(*Header) error { return refuse },
		"wrong key":   func(h *Header) error { return h.Verify(testvec.Pub("mallory")) },
		"wrong id":    func(h *Header) error { e := *env; e.ID[0] ^= 1; return bindsTo(h, &e) },
		"wrong from":  func(h *Header) error { e := *env; e.From = "bern"; return bindsTo(h, &e) },
		"wrong dev":   func(h *Header) error { e := *env; e.Device = "duty-officer"; return bindsTo(h, &e) },
		"wrong to":    func(h *Header) error { e := *env; e.To = "bern"; return bindsTo(h, &e) },
		"wrong epoch": func(h *Header) error { e := *env; e.Epoch++; return bindsTo(h, &e) },
		"wrong prec":  func(h *Header) error { e := *env; e.Precedence = envelope.Routine; return bindsTo(h, &e) },
		"accepts":     func(h *Header) error { return bindsTo(h, env) },
	} {
		var sunk int64
		calls := 0
		verify := func(h *Header) error {
			calls++
			if sunk != int64(len(f.draft().Body)+len(f.attachment)) {
				t.Errorf("%s: verify called after %d bytes of content", name, sunk)
			}
			if !bytes.Equal(h.Sig, sh.Sig) || !slices.Equal(h.Parts, sh.Parts) {
				t.Errorf("%s: verify called without the trailer's digests and signature", name)
			}
			return check(h)
		}
		h, err := Open(bytes.NewReader(sealed), []age.Identity{f.to}, verify,
			func(int, PartInfo) (io.Writer, error) {
				return writerFunc(func(b []byte) (int, error) { sunk += int64(len(b)); return len(b), nil }), nil
			})
		if calls != 1 {
			t.Errorf("%s: verify called %d times", name, calls)
		}
		if name == "accepts" {
			if err != nil || h == nil || h.Verify(f.devPub) != nil {
				t.Fatalf("matching envelope: %v", err)
			}
			continue
		}
		if err == nil || h != nil {
			t.Errorf("%s: opened", name)
		}
		if name == "refuses" && !errors.Is(err, refuse) {
			t.Errorf("verify's error is not wrapped: %v", err)
		}
	}
}

// TestOpenRefusesBadPlaintexts seals hand-made plaintexts around a valid
// signed header and checks each of Open's refusals.
func TestOpenRefusesBadPlaintexts(t *testing.T) {
	var lf letterFile
	testvec.Read(t, "letter.json", &lf)
	v := lf.Vectors[0]
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	open := func(pt []byte) error {
		_, err := Open(bytes.NewReader(sealPlaintext(t, id, pt)), []age.Identity{id},
			func(h *Header) error { return h.Verify(ed25519.PublicKey(v.DeviceKey)) },
			func(int, PartInfo) (io.Writer, error) { return io.Discard, nil })
		return err
	}
	if err := open(v.Plaintext); err != nil {
		t.Fatalf("vector plaintext: %v", err)
	}
	pt := []byte(v.Plaintext)
	hdrEnd := len(Magic) + 4 + len(v.Encoding)
	trEnd := int(v.Unpadded)
	trStart := trEnd - len(v.Trailer)
	sigStart := trEnd - 64
	withLen := func(l uint32) []byte {
		b := bytes.Clone(pt)
		binary.BigEndian.PutUint32(b[len(Magic):], l)
		return b
	}
	set := func(i int, c byte) []byte { b := bytes.Clone(pt); b[i] = c; return b }
	for name, c := range map[string]struct {
		pt   []byte
		want string
	}{
		"bad magic":            {set(0, 'B'), "bad magic"},
		"header length short":  {withLen(uint32(len(v.Encoding) - 1)), "malformed letter header"},
		"header length long":   {withLen(uint32(len(v.Encoding) + 1)), "malformed letter header"},
		"header length 2^32-1": {withLen(math.MaxUint32), "too long"},
		"truncated in header":  {pt[:hdrEnd-1], "truncated"},
		"content changed":      {set(hdrEnd, pt[hdrEnd]^1), "part 0 (\"\"): content does not match its signed digest"},
		"attachment changed":   {set(trStart-1, pt[trStart-1]^0x80), "part 1 (\"proposal.pdf\"): content does not match"},
		"first digest changed": {set(trStart, pt[trStart]^1), "part 0 (\"\"): content does not match its signed digest"},
		"last digest changed":  {set(sigStart-1, pt[sigStart-1]^1), "part 1 (\"proposal.pdf\"): content does not match"},
		"signature changed":    {set(sigStart+5, pt[sigStart+5]^1), "bad signature"},
		"signature last byte":  {set(trEnd-1, pt[trEnd-1]^0x40), "bad signature"},
		"padding not zero":     {set(len(pt)-1, 1), "bad padding"},
		"padding first byte":   {set(trEnd, 1), "bad padding"},
		"padding short":        {pt[:len(pt)-1], "bad padding"},
		"padding long":         {append(bytes.Clone(pt), 0), "bad padding"},
		"padding doubled":      {append(bytes.Clone(pt), make([]byte, 4096)...), "bad padding"},
		"no padding":           {pt[:trEnd], "bad padding"},
		"content truncated":    {pt[:hdrEnd+3], "read 3 of"},
		"trailer truncated":    {pt[:trEnd-1], "truncated letter trailer"},
		"trailer cut in half":  {pt[:trStart+len(v.Trailer)/2], "truncated letter trailer"},
		"no trailer":           {pt[:trStart], "truncated letter trailer"},
		"empty":                {nil, "truncated"},
	} {
		err := open(c.pt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", name, err, c.want)
		}
	}
}

// TestOpenTamperHeaderAndTrailer flips each byte of the header, its length
// and the trailer in a vector's plaintext, seals it again and opens it:
// every one must be refused.
func TestOpenTamperHeaderAndTrailer(t *testing.T) {
	var lf letterFile
	testvec.Read(t, "letter.json", &lf)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range lf.Vectors {
		pt := []byte(v.Plaintext)
		hdrEnd := len(Magic) + 4 + len(v.Encoding)
		trStart := int(v.Unpadded) - len(v.Trailer)
		var offsets []int
		for i := len(Magic); i < hdrEnd; i++ {
			offsets = append(offsets, i)
		}
		for i := trStart; i < int(v.Unpadded); i++ {
			offsets = append(offsets, i)
		}
		for _, off := range offsets {
			bad := bytes.Clone(pt)
			bad[off] ^= 0x01
			_, err := Open(bytes.NewReader(sealPlaintext(t, id, bad)), []age.Identity{id},
				func(h *Header) error { return h.Verify(ed25519.PublicKey(v.DeviceKey)) },
				func(int, PartInfo) (io.Writer, error) { return io.Discard, nil })
			if err == nil {
				t.Fatalf("%s: byte %d flipped (header %d..%d, trailer %d..%d): opened",
					v.Name, off, len(Magic), hdrEnd, trStart, v.Unpadded)
			}
		}
	}
}

func TestSealRefuses(t *testing.T) {
	f := newFixture(t)
	bad := f.toEp
	bad.Recipient = bad.Recipient[:50]
	x, _ := age.GenerateX25519Identity()
	classic := f.toEp
	classic.Recipient = x.Recipient().String()
	for name, c := range map[string]struct {
		edit     func(d *Draft)
		to, self identity.Epoch
	}{
		"bad recipient epoch": {func(*Draft) {}, bad, f.selfEp},
		"bad sender epoch":    {func(*Draft) {}, f.toEp, bad},
		"classic recipient":   {func(*Draft) {}, classic, f.selfEp},
		"bad header":          {func(d *Draft) { d.Seq = 0 }, f.toEp, f.selfEp},
		"attachment fails": {func(d *Draft) {
			d.Attachments[0].Open = func() (io.ReadCloser, error) { return nil, errors.New("gone") }
		}, f.toEp, f.selfEp},
		"attachment shrank": {func(d *Draft) { d.Attachments[0].Size++ }, f.toEp, f.selfEp},
		"attachment grew":   {func(d *Draft) { d.Attachments[0].Size-- }, f.toEp, f.selfEp},
		"attachment empty":  {func(d *Draft) { d.Attachments[0].Size = 0 }, f.toEp, f.selfEp},
		"negative size":     {func(d *Draft) { d.Attachments[0].Size = -1 }, f.toEp, f.selfEp},
		"read fails": {func(d *Draft) {
			d.Attachments[0].Open = func() (io.ReadCloser, error) {
				return io.NopCloser(io.MultiReader(bytes.NewReader(f.attachment[:100]), iotest.ErrReader(errors.New("disk gone")))), nil
			}
		}, f.toEp, f.selfEp},
	} {
		d := f.draft()
		c.edit(d)
		if _, err := Seal(io.Discard, d, f.devKey, c.to, c.self); err == nil {
			t.Errorf("%s: sealed", name)
		}
	}
}

// TestSealChecksAttachmentSize seals attachments whose content is shorter or
// longer than their Size, on both sides of the size at which parts are
// hashed on a second goroutine: Seal must fail, name the attachment, and
// open each attachment exactly once.
func TestSealChecksAttachmentSize(t *testing.T) {
	f := newFixture(t)
	for _, size := range []int64{0, 1, 5000, asyncThreshold - 1, asyncThreshold, asyncThreshold + 70_000} {
		for _, delta := range []int64{-1, 1, 64 << 10, -size} {
			actual := size + delta
			if actual < 0 || delta == 0 {
				continue
			}
			opened := 0
			d := f.draft()
			d.Attachments = append(d.Attachments, Attachment{Name: "changed.bin", MediaType: "application/octet-stream", Size: size,
				Open: func() (io.ReadCloser, error) {
					opened++
					return io.NopCloser(&pattern{left: actual}), nil
				}})
			_, err := Seal(io.Discard, d, f.devKey, f.toEp, f.selfEp)
			if err == nil || !strings.Contains(err.Error(), `"changed.bin"`) {
				t.Errorf("size %d, content %d bytes: %v", size, actual, err)
			}
			if opened != 1 {
				t.Errorf("size %d, content %d bytes: opened %d times", size, actual, opened)
			}
		}
		// The exact size seals and opens.
		opened := 0
		d := f.draft()
		d.Attachments = append(d.Attachments, Attachment{Name: "exact.bin", MediaType: "application/octet-stream", Size: size,
			Open: func() (io.ReadCloser, error) { opened++; return io.NopCloser(&pattern{left: size}), nil }})
		var buf bytes.Buffer
		if _, err := Seal(&buf, d, f.devKey, f.toEp, f.selfEp); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if opened != 1 {
			t.Errorf("size %d: opened %d times", size, opened)
		}
		h, parts, err := f.open(buf.Bytes(), f.to)
		if err != nil || len(parts) != 3 || int64(len(parts[2])) != size || h.Parts[2].Size != uint64(size) {
			t.Fatalf("size %d: %v", size, err)
		}
	}
}

// TestContextsDocumented checks this package's contexts against the rules in
// docs/PROTOCOL.md and that the document lists each one and the magic.
func TestContextsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	all := []string{ContextLetter, ContextPart, envelope.ContextEnvelope, envelope.ContextEnvelopeHash,
		envelope.ContextCiphertext, envelope.ContextReceipt, identity.ContextRoster, identity.ContextRosterHash,
		identity.ContextFingerprint, identity.ContextSafetyNumber}
	// No context line is the letter's magic line, so that signed bytes
	// never read as the start of a plaintext.
	for _, c := range all {
		if Magic == c+"\n" {
			t.Errorf("magic %q doubles as context %q", Magic, c)
		}
	}
	seen := map[string]bool{}
	for _, c := range all {
		if seen[c] {
			t.Errorf("%q is used twice", c)
		}
		seen[c] = true
		if !strings.HasPrefix(c, "brieftraeger/v1 ") || strings.ContainsAny(c, "\n\x00") {
			t.Errorf("context %q breaks the rules", c)
		}
	}
	for _, c := range []string{ContextLetter, ContextPart} {
		if !strings.Contains(string(doc), "`"+c+"`") {
			t.Errorf("docs/PROTOCOL.md does not list context %q", c)
		}
	}
	if !strings.Contains(string(doc), `"brieftraeger/v1 letter\n"`) {
		t.Error("docs/PROTOCOL.md does not give the magic")
	}
}

// TestSealedSize checks the envelope size formula of docs/PROTOCOL.md: the
// age header with two hybrid stanzas is 3,184 bytes, then a 16-byte nonce
// and the padded plaintext in 64 KiB chunks with 16-byte tags.
func TestSealedSize(t *testing.T) {
	f := newFixture(t)
	for _, n := range []int{0, 4000, 5000, 65536, 200_000} {
		d := f.draft()
		d.Attachments = nil
		d.Body = make([]byte, n)
		var buf bytes.Buffer
		h, err := Seal(&buf, d, f.devKey, f.toEp, f.selfEp)
		if err != nil {
			t.Fatal(err)
		}
		p := envelope.PaddedSize(int64(len(Magic) + 4 + len(h.Raw) + n + 32 + 64))
		want := 3184 + 16 + p + 16*((p+65535)/65536)
		if int64(buf.Len()) != want {
			t.Errorf("body of %d bytes: sealed %d bytes, formula gives %d", n, buf.Len(), want)
		}
	}
}
