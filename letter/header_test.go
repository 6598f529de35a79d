package letter

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"brieftraeger/envelope"
	"brieftraeger/identity"
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
	if err := h.sign(testKey("washington-laptop")); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Raw, specHeader(h)) {
		t.Fatal("encoding does not follow docs/PROTOCOL.md")
	}
	got, err := ParseHeader(h.Raw, h.Sig)
	if err != nil {
		t.Fatal(err)
	}
	h.Created = h.Created.UTC()
	if !headerEqual(got, h) {
		t.Fatalf("round trip changed the header:\n got %+v\nwant %+v", got, h)
	}
	if err := got.Verify(testPub("washington-laptop")); err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(testPub("tehran-laptop")); err == nil || !strings.Contains(err.Error(), "bad signature") {
		t.Fatalf("other key: %v", err)
	}
}

// TestHeaderTamper flips every bit of a signed letter header and of its
// signature: each must be refused by ParseHeader or by Verify.
func TestHeaderTamper(t *testing.T) {
	h := testLetterHeader()
	if err := h.sign(testKey("washington-laptop")); err != nil {
		t.Fatal(err)
	}
	pub := testPub("washington-laptop")
	for i := range h.Raw {
		for bit := range 8 {
			bad := bytes.Clone(h.Raw)
			bad[i] ^= 1 << bit
			if p, err := ParseHeader(bad, h.Sig); err == nil && p.Verify(pub) == nil {
				t.Fatalf("bit %d of header byte %d flipped: still verifies", bit, i)
			}
		}
	}
	for i := range h.Sig {
		for bit := range 8 {
			bad := bytes.Clone(h.Sig)
			bad[i] ^= 1 << bit
			p, err := ParseHeader(h.Raw, bad)
			if err != nil {
				t.Fatal(err)
			}
			if p.Verify(pub) == nil {
				t.Fatalf("bit %d of signature byte %d flipped: still verifies", bit, i)
			}
		}
	}
	for _, c := range []struct{ raw, sig []byte }{
		{h.Raw[:len(h.Raw)-1], h.Sig}, {append(bytes.Clone(h.Raw), 0), h.Sig},
		{h.Raw, h.Sig[:63]}, {h.Raw, append(bytes.Clone(h.Sig), 0)}, {nil, h.Sig}, {h.Raw, nil},
	} {
		if p, err := ParseHeader(c.raw, c.sig); err == nil && p.Verify(pub) == nil {
			t.Fatalf("%d/%d-byte variant verified", len(c.raw), len(c.sig))
		}
	}
	for _, ctx := range []string{envelope.ContextEnvelope, envelope.ContextReceipt, identity.ContextRoster, ContextPart} {
		p, err := ParseHeader(h.Raw, identity.Sign(testKey("washington-laptop"), ctx, h.Raw))
		if err != nil {
			t.Fatal(err)
		}
		if p.Verify(pub) == nil {
			t.Fatalf("signature under context %q verified", ctx)
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
	} {
		h := testLetterHeader()
		edit(h)
		if err := h.sign(testKey("washington-laptop")); err == nil {
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
	} {
		h := testLetterHeader()
		edit(h)
		if err := h.sign(testKey("washington-laptop")); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, err := ParseHeader(h.Raw, h.Sig); err != nil {
			t.Errorf("%s: signed but does not parse: %v", name, err)
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
	if err := h.sign(testKey("washington-laptop")); err != nil {
		t.Fatal(err)
	}
	big := append(bytes.Clone(h.Raw), make([]byte, MaxHeaderLen)...)
	for name, raw := range map[string][]byte{
		"empty":         nil,
		"version 0":     append([]byte{0}, h.Raw[1:]...),
		"version 2":     append([]byte{2}, h.Raw[1:]...),
		"trailing byte": append(bytes.Clone(h.Raw), 0),
		"truncated":     h.Raw[:len(h.Raw)-1],
		"too long":      big,
	} {
		if _, err := ParseHeader(raw, h.Sig); err == nil {
			t.Errorf("%s: parsed", name)
		} else if !strings.HasPrefix(err.Error(), "malformed letter header") {
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
	raw := specHeader(h)
	sig := identity.Sign(testKey("washington-laptop"), ContextHeader, raw)
	pt := binary.BigEndian.AppendUint32([]byte(Magic), uint32(len(raw)))
	pt = append(append(append(pt, raw...), sig...), "hello"...)
	n := int64(len(pt)) - 1 // what Open counted
	pt = append(pt, make([]byte, envelope.PaddedSize(n)-n)...)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(bytes.NewReader(sealPlaintext(t, id, pt)), []age.Identity{id},
		func(h *Header) error { return h.Verify(testPub("washington-laptop")) },
		func(int, PartInfo) (io.Writer, error) { return io.Discard, nil })
	if err == nil {
		t.Fatal("a header with a part of 2^64-1 bytes opened")
	}
}

// TestOpenChecksHeaderBeforeContent asserts that no content reaches a sink
// when verify refuses the header, and that verify's error is returned.
func TestOpenChecksHeaderBeforeContent(t *testing.T) {
	f := newFixture(t)
	sealed, sh := f.seal(t)
	env := &envelope.Header{ID: sh.ID, From: sh.From, Device: sh.Device, To: sh.To, Epoch: sh.Epoch, Precedence: sh.Precedence}
	refuse := errors.New("refused")
	for name, verify := range map[string]VerifyFunc{
		"refuses":     func(*Header) error { return refuse },
		"wrong key":   func(h *Header) error { return h.Verify(testPub("mallory")) },
		"wrong id":    func(h *Header) error { e := *env; e.ID[0] ^= 1; return bindsTo(h, &e) },
		"wrong from":  func(h *Header) error { e := *env; e.From = "bern"; return bindsTo(h, &e) },
		"wrong dev":   func(h *Header) error { e := *env; e.Device = "duty-officer"; return bindsTo(h, &e) },
		"wrong to":    func(h *Header) error { e := *env; e.To = "bern"; return bindsTo(h, &e) },
		"wrong epoch": func(h *Header) error { e := *env; e.Epoch++; return bindsTo(h, &e) },
		"wrong prec":  func(h *Header) error { e := *env; e.Precedence = envelope.Routine; return bindsTo(h, &e) },
	} {
		called := false
		_, err := Open(bytes.NewReader(sealed), []age.Identity{f.to}, verify,
			func(int, PartInfo) (io.Writer, error) { called = true; return io.Discard, nil })
		if err == nil {
			t.Errorf("%s: opened", name)
		}
		if called {
			t.Errorf("%s: content reached the sink before the header was accepted", name)
		}
		if name == "refuses" && !errors.Is(err, refuse) {
			t.Errorf("verify's error is not wrapped: %v", err)
		}
	}
	if _, err := Open(bytes.NewReader(sealed), []age.Identity{f.to}, func(h *Header) error { return bindsTo(h, env) },
		func(int, PartInfo) (io.Writer, error) { return io.Discard, nil }); err != nil {
		t.Fatalf("matching envelope: %v", err)
	}
}

// TestOpenRefusesBadPlaintexts seals hand-made plaintexts around a valid
// signed header and checks each of Open's refusals.
func TestOpenRefusesBadPlaintexts(t *testing.T) {
	var lf letterFile
	readVectors(t, "letter.json", &lf)
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
	hdrEnd := len(Magic) + 4 + len(v.Encoding) + 64
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
		"content changed":      {set(hdrEnd, pt[hdrEnd]^1), "does not match its signed digest"},
		"padding not zero":     {set(len(pt)-1, 1), "bad padding"},
		"padding short":        {pt[:len(pt)-1], "bad padding"},
		"padding long":         {append(bytes.Clone(pt), 0), "bad padding"},
		"padding doubled":      {append(bytes.Clone(pt), make([]byte, 4096)...), "bad padding"},
		"content truncated":    {pt[:hdrEnd+3], "read 3 of"},
		"empty":                {nil, "truncated"},
	} {
		err := open(c.pt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", name, err, c.want)
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
	sizeChanges := 0
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
		"attachment changes size": {func(d *Draft) {
			d.Attachments[0].Open = func() (io.ReadCloser, error) {
				sizeChanges++
				return io.NopCloser(bytes.NewReader(make([]byte, sizeChanges))), nil
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

// TestContextsDocumented checks this package's contexts against the rules in
// docs/PROTOCOL.md and that the document lists each one and the magic.
func TestContextsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	all := []string{ContextHeader, ContextPart, envelope.ContextEnvelope, envelope.ContextEnvelopeHash,
		envelope.ContextCiphertext, envelope.ContextReceipt, identity.ContextRoster, identity.ContextRosterHash,
		identity.ContextFingerprint, strings.TrimSuffix(Magic, "\n")}
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
	for _, c := range []string{ContextHeader, ContextPart} {
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
		p := envelope.PaddedSize(int64(len(Magic) + 4 + len(h.Raw) + 64 + n))
		want := 3184 + 16 + p + 16*((p+65535)/65536)
		if int64(buf.Len()) != want {
			t.Errorf("body of %d bytes: sealed %d bytes, formula gives %d", n, buf.Len(), want)
		}
	}
}
