package letter

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"brieftraeger/envelope"
	"brieftraeger/identity"
	"brieftraeger/internal/testvec"
)

// testAgeKeys returns fixed age identities from age-keys.json, adding
// missing ones with -update.
func testAgeKeys(t testing.TB, names ...string) map[string]*age.HybridIdentity {
	t.Helper()
	var f struct {
		Comment    string            `json:"comment"`
		Identities map[string]string `json:"identities"`
	}
	testvec.Read(t, "age-keys.json", &f)
	if f.Identities == nil {
		f.Identities = map[string]string{}
	}
	changed := false
	out := map[string]*age.HybridIdentity{}
	for _, n := range names {
		if _, ok := f.Identities[n]; !ok {
			if !*testvec.Update {
				t.Fatalf("age-keys.json has no identity %q; run go test ./letter -update", n)
			}
			id, err := age.GenerateHybridIdentity()
			if err != nil {
				t.Fatal(err)
			}
			f.Identities[n], changed = id.String(), true
		}
		id, err := age.ParseHybridIdentity(f.Identities[n])
		if err != nil {
			t.Fatal(err)
		}
		out[n] = id
	}
	if changed {
		testvec.Sync(t, "age-keys.json", f)
	}
	return out
}

// Independent encoders written from docs/PROTOCOL.md.

func specStr8(b []byte, s string) []byte { return append(append(b, byte(len(s))), s...) }

func specHeader(h *Header) []byte {
	b := append([]byte{Version}, h.ID[:]...)
	for _, s := range []string{h.From, h.Device, h.To, h.Office} {
		b = specStr8(b, s)
	}
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	b = binary.BigEndian.AppendUint32(b, h.Epoch)
	b = binary.BigEndian.AppendUint32(b, h.SenderEpoch)
	b = binary.BigEndian.AppendUint64(b, h.SenderRoster)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Created.UnixMilli()))
	b = append(b, byte(h.Precedence))
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.Subject)))
	b = append(b, h.Subject...)
	b = append(append(b, byte(len(h.Thread))), h.Thread...)
	b = append(append(b, byte(len(h.ReplyTo))), h.ReplyTo...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.Parts)))
	for _, p := range h.Parts {
		b = specStr8(b, p.Name)
		b = specStr8(b, p.MediaType)
		b = binary.BigEndian.AppendUint64(b, p.Size)
	}
	return b
}

// specSignedMessage is uint32 len || header || digest_0 || ... || digest_n-1.
func specSignedMessage(raw []byte, digests [][]byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(raw)))
	b = append(b, raw...)
	for _, d := range digests {
		b = append(b, d...)
	}
	return b
}

// specTrailer is digest_0 || ... || digest_n-1 || sig.
func specTrailer(digests [][]byte, sig []byte) []byte {
	var b []byte
	for _, d := range digests {
		b = append(b, d...)
	}
	return append(b, sig...)
}

// specPlaintext is magic || uint32 len || header || parts || trailer || zeros.
func specPlaintext(raw []byte, parts [][]byte, trailer []byte) []byte {
	b := binary.BigEndian.AppendUint32([]byte(Magic), uint32(len(raw)))
	b = append(b, raw...)
	for _, p := range parts {
		b = append(b, p...)
	}
	b = append(b, trailer...)
	return append(b, make([]byte, envelope.PaddedSize(int64(len(b)))-int64(len(b)))...)
}

// ---- letter headers and plaintexts ----

type letterFile struct {
	Comment string         `json:"comment"`
	Vectors []letterVector `json:"vectors"`
}

type letterVector struct {
	Name         string           `json:"name"`
	Comment      string           `json:"comment"`
	DeviceSeed   testvec.HexBytes `json:"device_seed"`
	DeviceKey    testvec.HexBytes `json:"device_key"`
	ID           testvec.HexBytes `json:"id"`
	From         string           `json:"from"`
	Device       string           `json:"device"`
	To           string           `json:"to"`
	Office       string           `json:"office"`
	Seq          uint64           `json:"seq"`
	Epoch        uint32           `json:"epoch"`
	SenderEpoch  uint32           `json:"sender_epoch"`
	SenderRoster uint64           `json:"sender_roster"`
	CreatedMs    int64            `json:"created_ms"`
	Precedence   uint8            `json:"precedence"`
	Subject      string           `json:"subject"`
	Thread       testvec.HexBytes `json:"thread"`
	ReplyTo      testvec.HexBytes `json:"reply_to"`
	Parts        []partVector     `json:"parts"`
	Encoding     testvec.HexBytes `json:"encoding"`
	Signed       testvec.HexBytes `json:"signed_message"`
	Signature    testvec.HexBytes `json:"signature"`
	Trailer      testvec.HexBytes `json:"trailer"`
	Unpadded     int64            `json:"unpadded_len"`
	Plaintext    testvec.HexBytes `json:"plaintext"`
}

type partVector struct {
	Name      string           `json:"name"`
	MediaType string           `json:"media_type"`
	Content   testvec.HexBytes `json:"content"`
	Size      uint64           `json:"size"`
	Digest    testvec.HexBytes `json:"digest"`
}

func (v *letterVector) draft() *Draft {
	d := &Draft{From: v.From, Device: v.Device, To: v.To, Office: v.Office, Seq: v.Seq, SenderRoster: v.SenderRoster,
		Precedence: envelope.Precedence(v.Precedence), Subject: v.Subject, Thread: v.Thread, ReplyTo: v.ReplyTo,
		Created: time.UnixMilli(v.CreatedMs).UTC(), Body: v.Parts[0].Content}
	copy(d.ID[:], v.ID)
	for _, p := range v.Parts[1:] {
		d.Attachments = append(d.Attachments, Attachment{Name: p.Name, MediaType: p.MediaType, Size: int64(len(p.Content)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(p.Content)), nil }})
	}
	return d
}

// build fills the outputs of v from its inputs with the package's code,
// the way Seal does: header, its encoding, then writePlaintext, which hashes
// the parts, signs and writes the trailer and the padding.
func (v *letterVector) build(t testing.TB) *Header {
	t.Helper()
	h, err := header(v.draft(), v.Epoch, v.SenderEpoch)
	if err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	if h.Raw, err = h.encode(); err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	var buf bytes.Buffer
	if err := writePlaintext(&buf, h, v.draft(), ed25519.NewKeyFromSeed(v.DeviceSeed)); err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	n := int64(len(Magic) + 4 + len(h.Raw) + h.trailerLen())
	v.Parts = slices.Clone(v.Parts)
	for i, p := range h.Parts {
		v.Parts[i].MediaType, v.Parts[i].Size, v.Parts[i].Digest = p.MediaType, p.Size, p.Digest[:]
		n += int64(p.Size)
	}
	v.DeviceKey = testvec.HexBytes(ed25519.NewKeyFromSeed(v.DeviceSeed).Public().(ed25519.PublicKey))
	v.Encoding, v.Signed, v.Signature, v.Trailer = h.Raw, h.SignedMessage(), h.Sig, h.Trailer()
	v.Unpadded, v.Plaintext = n, buf.Bytes()
	return h
}

var letterCreated = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixMilli()

func genLetterVectors(t testing.TB) letterFile {
	f := letterFile{Comment: "Letter headers and plaintexts (docs/PROTOCOL.md, sections Letter plaintext and Letter header). " +
		"encoding is the header (parts without digests); part digest = SHA-256(\"brieftraeger/v1 letter-part\\n\" || content); " +
		"signed_message = uint32 len(encoding) || encoding || digest of each part in order; " +
		"signature = Ed25519 over \"brieftraeger/v1 letter-signature\\n\" || signed_message; trailer = digests || signature; " +
		"plaintext = magic || uint32 len(encoding) || encoding || parts || trailer || zero padding to PaddedSize(unpadded_len). " +
		"Attachment contents are SHA-256(label || uint32 counter) blocks."}
	id := func(s string) testvec.HexBytes { b, _ := hex.DecodeString(s); return b }
	pdf := append([]byte("%PDF-1.7\n"), testvec.Bytes("proposal.pdf", 200)...)
	gen := []letterVector{
		{Name: "proposal", Comment: "a FLASH letter to the party as a whole, with one attachment",
			DeviceSeed: testvec.Seed("washington-laptop"), ID: id("000102030405060708090a0b0c0d0e0f"),
			From: "washington", Device: "laptop", To: "tehran", Seq: 1, Epoch: 7, SenderEpoch: 2, SenderRoster: 3,
			CreatedMs: letterCreated, Precedence: uint8(envelope.Flash), Subject: "Proposal for talks",
			Thread: testvec.HexBytes{}, ReplyTo: testvec.HexBytes{},
			Parts: []partVector{
				{Content: []byte("The Government of the United States proposes talks in Geneva.\n")},
				{Name: "proposal.pdf", MediaType: "application/pdf", Content: pdf},
			}},
		{Name: "reply", Comment: "a reply to an office, in a thread, with a body over 4096 bytes, a scan and an empty file",
			DeviceSeed: testvec.Seed("tehran-laptop"), ID: id("f0e1d2c3b4a5968778695a4b3c2d1e0f"),
			From: "tehran", Device: "laptop", To: "washington", Office: "secretary-of-state", Seq: 12,
			Epoch: 2, SenderEpoch: 7, SenderRoster: 1, CreatedMs: letterCreated + 86_400_123, Precedence: uint8(envelope.Immediate),
			Subject: "Antwort – Vorschläge für Genf", Thread: id("0f0e0d0c0b0a09080706050403020100"),
			ReplyTo: id("000102030405060708090a0b0c0d0e0f"),
			Parts: []partVector{
				{Content: bytes.Repeat([]byte("Reply. "), 720)},
				{Name: "scan-1.png", MediaType: "image/png", Content: testvec.Bytes("scan-1.png", 333)},
				{Name: "empty.txt", MediaType: "text/plain", Content: testvec.HexBytes{}},
			}},
		{Name: "body-only", Comment: "ROUTINE, empty body and subject: the smallest letter",
			DeviceSeed: testvec.Seed("washington-duty"), ID: id("11111111111111111111111111111111"),
			From: "washington", Device: "duty-officer", To: "tehran", Seq: 1 << 40, Epoch: 0xffffffff,
			SenderEpoch: 0, SenderRoster: 1 << 33, CreatedMs: 1, Precedence: uint8(envelope.Routine), Thread: testvec.HexBytes{}, ReplyTo: testvec.HexBytes{},
			Parts: []partVector{{Content: testvec.HexBytes{}}}},
	}
	for _, v := range gen {
		v.build(t)
		f.Vectors = append(f.Vectors, v)
	}
	return f
}

func (v *letterVector) expectedHeader() *Header {
	h := &Header{From: v.From, Device: v.Device, To: v.To, Office: v.Office, Seq: v.Seq, Epoch: v.Epoch,
		SenderEpoch: v.SenderEpoch, SenderRoster: v.SenderRoster, Created: time.UnixMilli(v.CreatedMs).UTC(), Precedence: envelope.Precedence(v.Precedence),
		Subject: v.Subject, Thread: v.Thread, ReplyTo: v.ReplyTo, Raw: v.Encoding, Sig: v.Signature}
	copy(h.ID[:], v.ID)
	for _, p := range v.Parts {
		pi := PartInfo{Name: p.Name, MediaType: p.MediaType, Size: p.Size}
		copy(pi.Digest[:], p.Digest)
		h.Parts = append(h.Parts, pi)
	}
	return h
}

func headerEqual(a, b *Header) bool {
	if a.ID != b.ID || a.From != b.From || a.Device != b.Device || a.To != b.To || a.Office != b.Office ||
		a.Seq != b.Seq || a.Epoch != b.Epoch || a.SenderEpoch != b.SenderEpoch || a.SenderRoster != b.SenderRoster || !a.Created.Equal(b.Created) ||
		a.Precedence != b.Precedence || a.Subject != b.Subject || !bytes.Equal(a.Thread, b.Thread) ||
		!bytes.Equal(a.ReplyTo, b.ReplyTo) || !slices.Equal(a.Parts, b.Parts) ||
		!bytes.Equal(a.Raw, b.Raw) || !bytes.Equal(a.Sig, b.Sig) {
		return false
	}
	return true
}

func TestLetterVectors(t *testing.T) {
	testvec.Sync(t, "letter.json", genLetterVectors(t))
	if *testvec.Update {
		return
	}
	var f letterFile
	testvec.Read(t, "letter.json", &f)
	if len(f.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range f.Vectors {
		want := v.expectedHeader()
		var contents, digests [][]byte
		for i, p := range v.Parts {
			if uint64(len(p.Content)) != p.Size || !bytes.Equal(testvec.SpecHash(ContextPart, p.Content), p.Digest) {
				t.Errorf("%s: part %d size or digest does not match its content", v.Name, i)
			}
			contents, digests = append(contents, p.Content), append(digests, p.Digest)
		}
		if v.Parts[0].Name != "" || v.Parts[0].MediaType != BodyMediaType {
			t.Errorf("%s: body part is not unnamed %q", v.Name, BodyMediaType)
		}
		if !bytes.Equal(specHeader(want), v.Encoding) {
			t.Errorf("%s: encoding does not follow docs/PROTOCOL.md", v.Name)
		}
		if !bytes.Equal(specSignedMessage(v.Encoding, digests), v.Signed) {
			t.Errorf("%s: signed_message is not uint32 len || encoding || digests", v.Name)
		}
		if !bytes.Equal(testvec.SpecSign(ed25519.NewKeyFromSeed(v.DeviceSeed), ContextLetter, v.Signed), v.Signature) {
			t.Errorf("%s: signature is not Ed25519 over context || \"\\n\" || signed_message", v.Name)
		}
		if !bytes.Equal(specTrailer(digests, v.Signature), v.Trailer) {
			t.Errorf("%s: trailer is not digests || signature", v.Name)
		}
		if !bytes.Equal(specPlaintext(v.Encoding, contents, v.Trailer), v.Plaintext) {
			t.Errorf("%s: plaintext does not follow docs/PROTOCOL.md", v.Name)
		}
		if int64(len(v.Plaintext)) != envelope.PaddedSize(v.Unpadded) ||
			!bytes.Equal(v.Plaintext[v.Unpadded-int64(len(v.Trailer)):v.Unpadded], v.Trailer) {
			t.Errorf("%s: plaintext is %d bytes, want PaddedSize(%d) with the trailer just before the padding",
				v.Name, len(v.Plaintext), v.Unpadded)
		}
		w := v
		w.Parts = slices.Clone(v.Parts)
		w.build(t)
		if !bytes.Equal(w.Encoding, v.Encoding) || !bytes.Equal(w.Signed, v.Signed) || !bytes.Equal(w.Signature, v.Signature) ||
			!bytes.Equal(w.Trailer, v.Trailer) || w.Unpadded != v.Unpadded || !bytes.Equal(w.Plaintext, v.Plaintext) {
			t.Errorf("%s: rebuilt letter differs from the file", v.Name)
		}
		got, err := ParseHeader(v.Encoding, v.Trailer)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if !headerEqual(got, want) {
			t.Errorf("%s: parsed header differs:\n got %+v\nwant %+v", v.Name, got, want)
		}
		if !bytes.Equal(got.SignedMessage(), v.Signed) || !bytes.Equal(got.Trailer(), v.Trailer) {
			t.Errorf("%s: SignedMessage or Trailer differs from the file", v.Name)
		}
		if err := got.Verify(ed25519.PublicKey(v.DeviceKey)); err != nil {
			t.Error(err)
		}
		// The plaintext reads back through the same code Open uses.
		r := bytes.NewReader(v.Plaintext)
		h, n, err := readHeader(r)
		if err != nil {
			t.Fatalf("%s: readHeader: %v", v.Name, err)
		}
		if h.Sig != nil || !bytes.Equal(h.Raw, v.Encoding) {
			t.Errorf("%s: readHeader returned a signature or another encoding", v.Name)
		}
		computed := make([][32]byte, len(h.Parts))
		for i, p := range h.Parts {
			var buf bytes.Buffer
			if computed[i], err = readPart(r, i, p, func(int, PartInfo) (io.Writer, error) { return &buf, nil }); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), contents[i]) || !bytes.Equal(computed[i][:], digests[i]) {
				t.Errorf("%s: part %d or its digest differs", v.Name, i)
			}
			n += int64(p.Size)
		}
		if err := readTrailer(r, h, computed); err != nil {
			t.Fatalf("%s: readTrailer: %v", v.Name, err)
		}
		if !headerEqual(h, want) {
			t.Errorf("%s: header read from the plaintext differs", v.Name)
		}
		if err := h.Verify(ed25519.PublicKey(v.DeviceKey)); err != nil {
			t.Error(err)
		}
		n += int64(h.trailerLen())
		if n != v.Unpadded {
			t.Errorf("%s: unpadded length %d, file says %d", v.Name, n, v.Unpadded)
		}
		if err := checkPadding(r, n); err != nil {
			t.Errorf("%s: %v", v.Name, err)
		}
	}
}

// TestLetterVectorsDetectChanges makes sure the vector check can fail: each
// changed input changes the signed message (through the header encoding, or
// through the digests for a changed digest) and breaks the file's signature.
func TestLetterVectorsDetectChanges(t *testing.T) {
	var f letterFile
	testvec.Read(t, "letter.json", &f)
	for _, v := range f.Vectors {
		for name, edit := range map[string]func(h *Header){
			"id":            func(h *Header) { h.ID[3] ^= 1 },
			"from":          func(h *Header) { h.From = "bern" },
			"device":        func(h *Header) { h.Device += "2" },
			"to":            func(h *Header) { h.To = "bern" },
			"office":        func(h *Header) { h.Office += "x" },
			"seq":           func(h *Header) { h.Seq++ },
			"epoch":         func(h *Header) { h.Epoch ^= 1 },
			"sender epoch":  func(h *Header) { h.SenderEpoch ^= 1 },
			"sender roster": func(h *Header) { h.SenderRoster ^= 1 },
			"created":       func(h *Header) { h.Created = h.Created.Add(time.Millisecond) },
			"precedence":    func(h *Header) { h.Precedence = (h.Precedence + 1) % 4 },
			"subject":       func(h *Header) { h.Subject += "." },
			"thread":        func(h *Header) { h.Thread = bytes.Repeat([]byte{7}, 16) },
			"reply-to":      func(h *Header) { h.ReplyTo = bytes.Repeat([]byte{7}, 16) },
			"part size":     func(h *Header) { h.Parts[0].Size++ },
			"part digest":   func(h *Header) { h.Parts[0].Digest[0] ^= 1 },
			"last digest":   func(h *Header) { h.Parts[len(h.Parts)-1].Digest[31] ^= 0x80 },
			"media type":    func(h *Header) { h.Parts[0].MediaType = "text/html" },
			"part added": func(h *Header) {
				h.Parts = append(h.Parts, PartInfo{Name: "x", Digest: identity.Hash(ContextPart)})
			},
			"parts swapped": func(h *Header) {
				if len(h.Parts) > 2 {
					h.Parts[1], h.Parts[2] = h.Parts[2], h.Parts[1]
				} else {
					h.Parts = append(h.Parts, PartInfo{Name: "x", Digest: identity.Hash(ContextPart)})
					h.Parts[1], h.Parts[len(h.Parts)-1] = h.Parts[len(h.Parts)-1], h.Parts[1]
				}
			},
		} {
			h := v.expectedHeader()
			h.Parts = slices.Clone(h.Parts)
			edit(h)
			raw, err := h.encode()
			if err != nil {
				t.Fatalf("%s/%s: %v", v.Name, name, err)
			}
			digestOnly := strings.HasSuffix(name, "digest")
			if changed := !bytes.Equal(raw, v.Encoding); changed == digestOnly {
				t.Errorf("%s/%s: encoding changed: %v, want %v", v.Name, name, changed, !digestOnly)
			}
			h.Raw = raw
			msg := h.SignedMessage()
			if bytes.Equal(msg, v.Signed) {
				t.Errorf("%s/%s: same signed message", v.Name, name)
			}
			if identity.Verify(ed25519.PublicKey(v.DeviceKey), ContextLetter, msg, v.Signature) {
				t.Errorf("%s/%s: signature still verifies", v.Name, name)
			}
			h.Sig = v.Signature
			if h.Verify(ed25519.PublicKey(v.DeviceKey)) == nil {
				t.Errorf("%s/%s: Header.Verify accepts the file's signature", v.Name, name)
			}
		}
	}
}

// ---- a sealed letter and its envelope ----

type sealedFile struct {
	Comment        string           `json:"comment"`
	Letter         string           `json:"letter"`
	RecipientEpoch sealedEpoch      `json:"recipient_epoch"`
	SenderEpoch    sealedEpoch      `json:"sender_epoch"`
	Sealed         testvec.HexBytes `json:"sealed"`
	Envelope       sealedEnvelope   `json:"envelope"`
	Receipts       []sealedReceipt  `json:"receipts"`
}

type sealedEpoch struct {
	Party     string `json:"party"`
	Number    uint32 `json:"number"`
	Identity  string `json:"identity"`
	Recipient string `json:"recipient"`
}

type sealedEnvelope struct {
	Size      uint64           `json:"size"`
	Digest    testvec.HexBytes `json:"digest"`
	Encoding  testvec.HexBytes `json:"encoding"`
	Signature testvec.HexBytes `json:"signature"`
	Hash      testvec.HexBytes `json:"hash"`
}

type sealedReceipt struct {
	Kind      string           `json:"kind"`
	SignerKey testvec.HexBytes `json:"signer_key"`
	Encoding  testvec.HexBytes `json:"encoding"`
}

func (e sealedEpoch) epoch() identity.Epoch {
	return identity.Epoch{Number: e.Number, Recipient: e.Recipient, NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func decryptAll(sealed []byte, id age.Identity) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(sealed), id)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func genSealedVector(t testing.TB) sealedFile {
	var old sealedFile
	testvec.Read(t, "letter-sealed.json", &old)
	lf := genLetterVectors(t)
	v := lf.Vectors[0]
	ids := testAgeKeys(t, "tehran-epoch-7", "washington-epoch-2")
	ep := func(party, key string, n uint32) sealedEpoch {
		return sealedEpoch{Party: party, Number: n, Identity: ids[key].String(), Recipient: ids[key].Recipient().String()}
	}
	f := sealedFile{Comment: "Letter vector \"" + v.Name + "\" sealed (docs/PROTOCOL.md, section Sealed letter): an age file " +
		"with two mlkem768x25519 stanzas, the recipient's epoch key first, then the sender's own; its payload is the " +
		"letter's plaintext. The envelope binds it: size = len(sealed), digest = ciphertext digest of sealed, signed by " +
		"the sending device. Receipts: posted by the relay \"bern\" (seq 1), delivered by tehran/laptop. Sealing is " +
		"randomized, so sealed is kept from run to run while it still opens to the plaintext. The identities are test-only.",
		Letter: v.Name, RecipientEpoch: ep("tehran", "tehran-epoch-7", v.Epoch), SenderEpoch: ep("washington", "washington-epoch-2", v.SenderEpoch)}
	if pt, err := decryptAll(old.Sealed, ids["tehran-epoch-7"]); err == nil && bytes.Equal(pt, v.Plaintext) {
		f.Sealed = old.Sealed
	} else {
		var buf bytes.Buffer
		if _, err := Seal(&buf, v.draft(), ed25519.NewKeyFromSeed(v.DeviceSeed), f.RecipientEpoch.epoch(), f.SenderEpoch.epoch()); err != nil {
			t.Fatal(err)
		}
		f.Sealed = buf.Bytes()
	}
	env := &envelope.Header{From: v.From, Device: v.Device, To: v.To, Epoch: v.Epoch,
		Precedence: envelope.Precedence(v.Precedence), Size: uint64(len(f.Sealed))}
	copy(env.ID[:], v.ID)
	d := envelope.NewDigest()
	d.Write(f.Sealed)
	d.Sum(env.Digest[:0])
	if err := env.Sign(ed25519.NewKeyFromSeed(v.DeviceSeed)); err != nil {
		t.Fatal(err)
	}
	hash := env.Hash()
	f.Envelope = sealedEnvelope{Size: env.Size, Digest: env.Digest[:], Encoding: env.Raw, Signature: env.Sig, Hash: hash[:]}
	for _, r := range []struct {
		rc  envelope.Receipt
		key string
	}{
		{envelope.Receipt{Kind: envelope.Posted, Party: "bern", Signer: envelope.RelaySigner, Time: time.UnixMilli(letterCreated + 250), Seq: 1}, "relay-bern"},
		{envelope.Receipt{Kind: envelope.Delivered, Party: "tehran", Signer: "laptop", Time: time.UnixMilli(letterCreated + 1500)}, "tehran-laptop"},
	} {
		r.rc.ID, r.rc.Envelope = env.ID, hash
		if err := r.rc.Sign(testvec.Key(r.key)); err != nil {
			t.Fatal(err)
		}
		f.Receipts = append(f.Receipts, sealedReceipt{Kind: r.rc.Kind.String(), SignerKey: testvec.HexBytes(testvec.Pub(r.key)), Encoding: r.rc.Raw})
	}
	return f
}

// bindsTo is the check that docs/PROTOCOL.md asks of a receiver: the
// letter header must repeat the envelope's id, addressing, epoch and
// precedence.
func bindsTo(h *Header, env *envelope.Header) error {
	switch {
	case h.ID != env.ID:
		return fmt.Errorf("letter %s came in envelope %s", h.ID, env.ID)
	case h.From != env.From || h.Device != env.Device:
		return fmt.Errorf("letter from %s/%s came in an envelope from %s/%s", h.From, h.Device, env.From, env.Device)
	case h.To != env.To:
		return fmt.Errorf("letter to %s came in an envelope to %s", h.To, env.To)
	case h.Epoch != env.Epoch:
		return fmt.Errorf("letter sealed to epoch %d came in an envelope for epoch %d", h.Epoch, env.Epoch)
	case h.Precedence != env.Precedence:
		return fmt.Errorf("%v letter came in a %v envelope", h.Precedence, env.Precedence)
	}
	return nil
}

func TestSealedLetterVector(t *testing.T) {
	testvec.Sync(t, "letter-sealed.json", genSealedVector(t))
	if *testvec.Update {
		return
	}
	var f sealedFile
	testvec.Read(t, "letter-sealed.json", &f)
	var lf letterFile
	testvec.Read(t, "letter.json", &lf)
	i := slices.IndexFunc(lf.Vectors, func(v letterVector) bool { return v.Name == f.Letter })
	if i < 0 {
		t.Fatalf("no letter vector %q", f.Letter)
	}
	v := lf.Vectors[i]

	// The envelope, as the relay sees it.
	env, err := envelope.Parse(f.Envelope.Encoding)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Verify(ed25519.PublicKey(v.DeviceKey)); err != nil {
		t.Fatal(err)
	}
	if env.Size != uint64(len(f.Sealed)) || !bytes.Equal(env.Digest[:], testvec.SpecHash(envelope.ContextCiphertext, f.Sealed)) {
		t.Fatal("envelope does not bind the sealed bytes")
	}
	if h := env.Hash(); !bytes.Equal(h[:], f.Envelope.Hash) || !bytes.Equal(f.Envelope.Hash, testvec.SpecHash(envelope.ContextEnvelopeHash, f.Envelope.Encoding)) {
		t.Fatal("envelope hash differs")
	}
	for _, fr := range f.Receipts {
		r, err := envelope.ParseReceipt(fr.Encoding)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Verify(ed25519.PublicKey(fr.SignerKey)); err != nil || r.Kind.String() != fr.Kind {
			t.Fatalf("%s receipt: %v", fr.Kind, err)
		}
		if r.ID != env.ID || r.Envelope != env.Hash() {
			t.Fatalf("%s receipt refers to another envelope", fr.Kind)
		}
	}

	// Exactly two stanzas: recipient epoch, then sender epoch.
	if n := bytes.Count(f.Sealed, []byte("\n-> mlkem768x25519 ")); n != 2 {
		t.Fatalf("%d stanzas, want 2", n)
	}
	for _, e := range []sealedEpoch{f.RecipientEpoch, f.SenderEpoch} {
		id, err := age.ParseHybridIdentity(e.Identity)
		if err != nil {
			t.Fatal(err)
		}
		if id.Recipient().String() != e.Recipient {
			t.Fatalf("%s epoch %d: recipient does not match identity", e.Party, e.Number)
		}
		pt, err := decryptAll(f.Sealed, id)
		if err != nil || !bytes.Equal(pt, v.Plaintext) {
			t.Fatalf("%s epoch %d: payload is not the letter plaintext: %v", e.Party, e.Number, err)
		}
		var parts [][]byte
		h, err := Open(bytes.NewReader(f.Sealed), []age.Identity{id},
			func(h *Header) error {
				if err := h.Verify(ed25519.PublicKey(v.DeviceKey)); err != nil {
					return err
				}
				return bindsTo(h, env)
			},
			func(i int, p PartInfo) (io.Writer, error) {
				parts = append(parts, nil)
				return writerFunc(func(b []byte) (int, error) { parts[i] = append(parts[i], b...); return len(b), nil }), nil
			})
		if err != nil {
			t.Fatalf("%s epoch %d: %v", e.Party, e.Number, err)
		}
		if !headerEqual(h, v.expectedHeader()) || h.Epoch != f.RecipientEpoch.Number || h.SenderEpoch != f.SenderEpoch.Number {
			t.Fatalf("%s epoch %d: header differs", e.Party, e.Number)
		}
		for i, p := range v.Parts {
			if !bytes.Equal(parts[i], p.Content) {
				t.Fatalf("part %d differs", i)
			}
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// A version-1 header, as earlier releases sealed it, still parses, with
// SenderRoster 0; the current version is 2.
func TestLetterHeaderV1(t *testing.T) {
	var v struct {
		Encoding  testvec.HexBytes `json:"encoding"`
		Trailer   testvec.HexBytes `json:"trailer"`
		DeviceKey testvec.HexBytes `json:"device_key"`
		From      string           `json:"from"`
		Device    string           `json:"device"`
		To        string           `json:"to"`
		Seq       uint64           `json:"seq"`
		Subject   string           `json:"subject"`
	}
	testvec.Read(t, "letter-header-v1.json", &v)
	if v.Encoding[0] != 1 || Version != 2 {
		t.Fatalf("versions: vector %d, current %d", v.Encoding[0], Version)
	}
	h, err := ParseHeader(v.Encoding, v.Trailer)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Verify(ed25519.PublicKey(v.DeviceKey)); err != nil {
		t.Fatalf("a version-1 signature: %v", err)
	}
	if h.From != v.From || h.Device != v.Device || h.To != v.To || h.Seq != v.Seq || h.Subject != v.Subject || h.SenderRoster != 0 {
		t.Fatalf("parsed %+v", h)
	}
	for _, bad := range []byte{0, 3} {
		b := bytes.Clone(v.Encoding)
		b[0] = bad
		if _, err := ParseHeader(b, nil); err == nil {
			t.Fatalf("version %d accepted", bad)
		}
	}
}
