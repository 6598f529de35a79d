package envelope

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"brieftraeger/identity"
	"brieftraeger/internal/testvec"
)

// Independent encoders written from docs/PROTOCOL.md.

func specStr8(b []byte, s string) []byte { return append(append(b, byte(len(s))), s...) }

func specHeaderBody(h *Header) []byte {
	b := append([]byte{Version}, h.ID[:]...)
	b = specStr8(b, h.From)
	b = specStr8(b, h.Device)
	b = specStr8(b, h.To)
	b = binary.BigEndian.AppendUint32(b, h.Epoch)
	b = append(b, byte(h.Precedence))
	b = binary.BigEndian.AppendUint64(b, h.Size)
	return append(b, h.Digest[:]...)
}

func specReceiptBody(r *Receipt) []byte {
	b := []byte{Version, byte(r.Kind)}
	b = append(b, r.ID[:]...)
	b = append(b, r.Envelope[:]...)
	b = specStr8(b, r.Party)
	b = specStr8(b, r.Signer)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.UnixMilli()))
	return binary.BigEndian.AppendUint64(b, r.Seq)
}

// ---- envelopes ----

type envelopeFile struct {
	Comment string            `json:"comment"`
	Vectors []envelopeVector  `json:"vectors"`
	Invalid []invalidEncoding `json:"invalid"`
}

type envelopeVector struct {
	Name           string           `json:"name"`
	DeviceSeed     testvec.HexBytes `json:"device_seed"`
	DeviceKey      testvec.HexBytes `json:"device_key"`
	ID             testvec.HexBytes `json:"id"`
	From           string           `json:"from"`
	Device         string           `json:"device"`
	To             string           `json:"to"`
	Epoch          uint32           `json:"epoch"`
	Precedence     uint8            `json:"precedence"`
	PrecedenceName string           `json:"precedence_name"`
	Ciphertext     testvec.HexBytes `json:"ciphertext"`
	Size           uint64           `json:"size"`
	Digest         testvec.HexBytes `json:"digest"`
	Encoding       testvec.HexBytes `json:"encoding"`
	Signature      testvec.HexBytes `json:"signature"`
	Hash           testvec.HexBytes `json:"hash"`
	Stream         testvec.HexBytes `json:"stream"`
}

// invalidEncoding must be refused by the parser: some carry a valid
// signature over a body that breaks a rule.
type invalidEncoding struct {
	Name     string           `json:"name"`
	Comment  string           `json:"comment"`
	Encoding testvec.HexBytes `json:"encoding"`
}

func (v *envelopeVector) header() *Header {
	h := &Header{From: v.From, Device: v.Device, To: v.To, Epoch: v.Epoch,
		Precedence: Precedence(v.Precedence), Size: uint64(len(v.Ciphertext))}
	copy(h.ID[:], v.ID)
	d := NewDigest()
	d.Write(v.Ciphertext)
	d.Sum(h.Digest[:0])
	return h
}

func (v *envelopeVector) sign(t testing.TB) {
	t.Helper()
	h := v.header()
	if err := h.Sign(ed25519.NewKeyFromSeed(v.DeviceSeed)); err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	var stream bytes.Buffer
	if err := WriteHeader(&stream, h); err != nil {
		t.Fatal(err)
	}
	stream.Write(v.Ciphertext)
	hash := h.Hash()
	v.PrecedenceName = h.Precedence.String()
	v.Size, v.Digest, v.Encoding, v.Signature, v.Hash, v.Stream = h.Size, h.Digest[:], h.Raw, h.Sig, hash[:], stream.Bytes()
}

func genEnvelopeVectors(t testing.TB) envelopeFile {
	f := envelopeFile{Comment: "Envelope headers (docs/PROTOCOL.md, section Envelope). The ciphertext is a stand-in: " +
		"SHA-256(label || uint32 counter) blocks. digest = SHA-256(\"brieftraeger/v1 ciphertext\\n\" || ciphertext); " +
		"encoding = signed header (body || signature); hash = SHA-256(\"brieftraeger/v1 envelope-hash\\n\" || encoding); " +
		"stream = uint16 length || encoding || ciphertext."}
	id := func(s string) testvec.HexBytes { b, _ := hex.DecodeString(s); return b }
	for _, v := range []envelopeVector{
		{Name: "flash", DeviceSeed: testvec.Seed("washington-laptop"), ID: id("000102030405060708090a0b0c0d0e0f"),
			From: "washington", Device: "laptop", To: "tehran", Epoch: 7, Precedence: uint8(Flash),
			Ciphertext: testvec.Bytes("flash", 300)},
		{Name: "routine-reply", DeviceSeed: testvec.Seed("tehran-laptop"), ID: id("f0e1d2c3b4a5968778695a4b3c2d1e0f"),
			From: "tehran", Device: "laptop", To: "washington", Epoch: 3, Precedence: uint8(Routine),
			Ciphertext: testvec.Bytes("routine-reply", 97)},
		{Name: "longest-names", DeviceSeed: testvec.Seed("washington-duty"), ID: id("ffffffffffffffffffffffffffffffff"),
			From: "a234567890123456789012345678901z", Device: "duty-officer-0123456789-abcdefgh", To: "0-tehran-ministry-of-foreign-aff",
			Epoch: 0xffffffff, Precedence: uint8(Priority), Ciphertext: testvec.HexBytes{}},
	} {
		v.DeviceKey = testvec.HexBytes(ed25519.NewKeyFromSeed(v.DeviceSeed).Public().(ed25519.PublicKey))
		v.sign(t)
		f.Vectors = append(f.Vectors, v)
	}

	// Invalid headers, signed so that only the rule they break refuses them.
	base := f.Vectors[0]
	body := func(edit func(b []byte) []byte) testvec.HexBytes {
		b := edit(bytes.Clone(base.Encoding[:len(base.Encoding)-64]))
		return append(b, testvec.SpecSign(testvec.Key("washington-laptop"), ContextEnvelope, b)...)
	}
	precOff := 1 + 16 + 1 + len(base.From) + 1 + len(base.Device) + 1 + len(base.To) + 4
	f.Invalid = []invalidEncoding{
		{"version-2", "version byte 2", body(func(b []byte) []byte { b[0] = 2; return b })},
		{"precedence-4", "precedence 4 is not FLASH..ROUTINE", body(func(b []byte) []byte { b[precOff] = 4; return b })},
		{"uppercase-from", "from is not a valid name", body(func(b []byte) []byte { b[18] = 'W'; return b })},
		{"trailing-byte", "one byte after the digest, inside the signed body", body(func(b []byte) []byte { return append(b, 0) })},
		{"missing-digest-byte", "digest one byte short", body(func(b []byte) []byte { return b[:len(b)-1] })},
		{"short", "shorter than a signature", base.Encoding[:63]},
	}
	return f
}

func TestEnvelopeVectors(t *testing.T) {
	testvec.Sync(t, "envelope.json", genEnvelopeVectors(t))
	if *testvec.Update {
		return
	}
	var f envelopeFile
	testvec.Read(t, "envelope.json", &f)
	if len(f.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range f.Vectors {
		h := v.header()
		body := specHeaderBody(h)
		if !bytes.Equal(v.Encoding, append(slices.Clip(body), v.Signature...)) {
			t.Errorf("%s: encoding is not body || signature per docs/PROTOCOL.md", v.Name)
		}
		if !bytes.Equal(testvec.SpecSign(ed25519.NewKeyFromSeed(v.DeviceSeed), ContextEnvelope, body), v.Signature) {
			t.Errorf("%s: signature is not Ed25519 over context || \"\\n\" || body", v.Name)
		}
		if !bytes.Equal(testvec.SpecHash(ContextCiphertext, v.Ciphertext), v.Digest) || uint64(len(v.Ciphertext)) != v.Size {
			t.Errorf("%s: digest or size mismatch", v.Name)
		}
		if !bytes.Equal(testvec.SpecHash(ContextEnvelopeHash, v.Encoding), v.Hash) {
			t.Errorf("%s: hash mismatch", v.Name)
		}
		stream := binary.BigEndian.AppendUint16(nil, uint16(len(v.Encoding)))
		stream = append(append(stream, v.Encoding...), v.Ciphertext...)
		if !bytes.Equal(stream, v.Stream) {
			t.Errorf("%s: stream is not uint16 length || header || ciphertext", v.Name)
		}
		w := v
		w.sign(t)
		if !bytes.Equal(w.Encoding, v.Encoding) || !bytes.Equal(w.Hash, v.Hash) || !bytes.Equal(w.Stream, v.Stream) {
			t.Errorf("%s: rebuilt encoding differs from the file", v.Name)
		}
		// Parse the file's bytes back, from the encoding and from the stream.
		got, err := Parse(v.Encoding)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		h.Raw, h.Sig = v.Encoding, v.Signature
		if !headerEqual(got, h) {
			t.Errorf("%s: parsed header differs:\n got %+v\nwant %+v", v.Name, got, h)
		}
		if err := got.Verify(ed25519.PublicKey(v.DeviceKey)); err != nil {
			t.Errorf("%s: %v", v.Name, err)
		}
		if hash := got.Hash(); !bytes.Equal(hash[:], v.Hash) {
			t.Errorf("%s: Hash() differs", v.Name)
		}
		if got.Precedence.String() != v.PrecedenceName {
			t.Errorf("%s: precedence name %q", v.Name, got.Precedence)
		}
		r := bytes.NewReader(v.Stream)
		sh, err := ReadHeader(r)
		if err != nil || !headerEqual(sh, h) {
			t.Fatalf("%s: ReadHeader: %v", v.Name, err)
		}
		if r.Len() != int(sh.Size) {
			t.Errorf("%s: %d bytes follow the header, want Size %d", v.Name, r.Len(), sh.Size)
		}
	}
	for _, v := range f.Invalid {
		if _, err := Parse(v.Encoding); err == nil {
			t.Errorf("invalid envelope %s (%s) parsed", v.Name, v.Comment)
		}
	}
}

func headerEqual(a, b *Header) bool {
	return a.ID == b.ID && a.From == b.From && a.Device == b.Device && a.To == b.To && a.Epoch == b.Epoch &&
		a.Precedence == b.Precedence && a.Size == b.Size && a.Digest == b.Digest &&
		bytes.Equal(a.Raw, b.Raw) && bytes.Equal(a.Sig, b.Sig)
}

// TestEnvelopeVectorsDetectChanges makes sure the vector check can fail:
// each changed input changes the encoding and breaks the file's signature.
func TestEnvelopeVectorsDetectChanges(t *testing.T) {
	var f envelopeFile
	testvec.Read(t, "envelope.json", &f)
	for _, v := range f.Vectors {
		for name, edit := range map[string]func(h *Header){
			"id":         func(h *Header) { h.ID[15] ^= 1 },
			"from":       func(h *Header) { h.From = "bern" },
			"device":     func(h *Header) { h.Device = "other" },
			"to":         func(h *Header) { h.To = "bern" },
			"epoch":      func(h *Header) { h.Epoch-- },
			"precedence": func(h *Header) { h.Precedence = (h.Precedence + 1) % 4 },
			"size":       func(h *Header) { h.Size++ },
			"digest":     func(h *Header) { h.Digest[0] ^= 1 },
		} {
			h := v.header()
			edit(h)
			body, err := h.body()
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(body, v.Encoding[:len(v.Encoding)-64]) {
				t.Errorf("%s/%s: same encoding", v.Name, name)
			}
			if identity.Verify(ed25519.PublicKey(v.DeviceKey), ContextEnvelope, body, v.Signature) {
				t.Errorf("%s/%s: signature still verifies", v.Name, name)
			}
		}
	}
}

// ---- receipts ----

type receiptFile struct {
	Comment string            `json:"comment"`
	Vectors []receiptVector   `json:"vectors"`
	Invalid []invalidEncoding `json:"invalid"`
}

type receiptVector struct {
	Name       string           `json:"name"`
	Comment    string           `json:"comment"`
	SignerSeed testvec.HexBytes `json:"signer_seed"`
	SignerKey  testvec.HexBytes `json:"signer_key"`
	Kind       uint8            `json:"kind"`
	KindName   string           `json:"kind_name"`
	ID         testvec.HexBytes `json:"id"`
	Envelope   testvec.HexBytes `json:"envelope"`
	Party      string           `json:"party"`
	Signer     string           `json:"signer"`
	TimeMs     int64            `json:"time_ms"`
	Seq        uint64           `json:"seq"`
	Encoding   testvec.HexBytes `json:"encoding"`
	Signature  testvec.HexBytes `json:"signature"`
}

func (v *receiptVector) receipt() *Receipt {
	r := &Receipt{Kind: Kind(v.Kind), Party: v.Party, Signer: v.Signer, Time: time.UnixMilli(v.TimeMs).UTC(), Seq: v.Seq}
	copy(r.ID[:], v.ID)
	copy(r.Envelope[:], v.Envelope)
	return r
}

func (v *receiptVector) sign(t testing.TB) {
	t.Helper()
	r := v.receipt()
	if err := r.Sign(ed25519.NewKeyFromSeed(v.SignerSeed)); err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	v.KindName, v.Encoding, v.Signature = r.Kind.String(), r.Raw, r.Sig
}

func genReceiptVectors(t testing.TB) receiptFile {
	var ef envelopeFile
	if *testvec.Update {
		ef = genEnvelopeVectors(t)
	} else {
		testvec.Read(t, "envelope.json", &ef)
	}
	env := ef.Vectors[0]
	f := receiptFile{Comment: "Receipts for envelope vector \"" + env.Name + "\" (docs/PROTOCOL.md, section Receipt). " +
		"envelope is that envelope's hash. encoding = body || signature, signed with context \"brieftraeger/v1 receipt\". " +
		"posted is signed by the relay \"bern\"; delivered and acknowledged by the receiving device."}
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
	for _, v := range []receiptVector{
		{Name: "posted", Comment: "signed by the relay key; party is the relay's name, signer is \"relay\", seq is the relay's mail sequence number",
			SignerSeed: testvec.Seed("relay-bern"), Kind: uint8(Posted), Party: "bern", Signer: RelaySigner, TimeMs: t0 + 17, Seq: 42},
		{Name: "delivered", Comment: "signed by the receiving device after it opened and verified the letter; seq 0",
			SignerSeed: testvec.Seed("tehran-laptop"), Kind: uint8(Delivered), Party: "tehran", Signer: "laptop", TimeMs: t0 + 61_250},
		{Name: "acknowledged", Comment: "signed by the receiving device on a person's word; seq 0",
			SignerSeed: testvec.Seed("tehran-laptop"), Kind: uint8(Acknowledged), Party: "tehran", Signer: "laptop", TimeMs: t0 + 3_600_999},
	} {
		v.SignerKey = testvec.HexBytes(ed25519.NewKeyFromSeed(v.SignerSeed).Public().(ed25519.PublicKey))
		v.ID, v.Envelope = env.ID, env.Hash
		v.sign(t)
		f.Vectors = append(f.Vectors, v)
	}
	base := f.Vectors[1]
	body := func(edit func(b []byte) []byte) testvec.HexBytes {
		b := edit(bytes.Clone(base.Encoding[:len(base.Encoding)-64]))
		return append(b, testvec.SpecSign(testvec.Key("tehran-laptop"), ContextReceipt, b)...)
	}
	timeOff := 2 + 16 + 32 + 1 + len(base.Party) + 1 + len(base.Signer)
	f.Invalid = []invalidEncoding{
		{"version-2", "version byte 2", body(func(b []byte) []byte { b[0] = 2; return b })},
		{"kind-0", "kind 0", body(func(b []byte) []byte { b[1] = 0; return b })},
		{"kind-4", "kind 4", body(func(b []byte) []byte { b[1] = 4; return b })},
		{"time-0", "time 0", body(func(b []byte) []byte { clear(b[timeOff : timeOff+8]); return b })},
		{"time-too-late", "time above 2^50 ms", body(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[timeOff:], 1<<50+1)
			return b
		})},
		{"empty-signer", "signer is not a valid name", body(func(b []byte) []byte {
			s := 2 + 16 + 32 + 1 + len(base.Party)
			return append(append(b[:s:s], 0), b[s+1+len(base.Signer):]...)
		})},
		{"trailing-byte", "one byte after seq, inside the signed body", body(func(b []byte) []byte { return append(b, 0) })},
	}
	return f
}

func TestReceiptVectors(t *testing.T) {
	testvec.Sync(t, "receipt.json", genReceiptVectors(t))
	if *testvec.Update {
		return
	}
	var f receiptFile
	testvec.Read(t, "receipt.json", &f)
	var ef envelopeFile
	testvec.Read(t, "envelope.json", &ef)
	env, err := Parse(ef.Vectors[0].Encoding)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range f.Vectors {
		r := v.receipt()
		body := specReceiptBody(r)
		if !bytes.Equal(v.Encoding, append(slices.Clip(body), v.Signature...)) {
			t.Errorf("%s: encoding is not body || signature per docs/PROTOCOL.md", v.Name)
		}
		if !bytes.Equal(testvec.SpecSign(ed25519.NewKeyFromSeed(v.SignerSeed), ContextReceipt, body), v.Signature) {
			t.Errorf("%s: signature is not Ed25519 over context || \"\\n\" || body", v.Name)
		}
		w := v
		w.sign(t)
		if !bytes.Equal(w.Encoding, v.Encoding) {
			t.Errorf("%s: rebuilt encoding differs from the file", v.Name)
		}
		got, err := ParseReceipt(v.Encoding)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		r.Raw, r.Sig = v.Encoding, v.Signature
		if !receiptEqual(got, r) {
			t.Errorf("%s: parsed receipt differs:\n got %+v\nwant %+v", v.Name, got, r)
		}
		if err := got.Verify(ed25519.PublicKey(v.SignerKey)); err != nil {
			t.Error(err)
		}
		if got.Kind.String() != v.KindName {
			t.Errorf("%s: kind name %q", v.Name, got.Kind)
		}
		// The signer rules of docs/PROTOCOL.md.
		if got.ID != env.ID || got.Envelope != env.Hash() {
			t.Errorf("%s: receipt does not refer to its envelope", v.Name)
		}
		switch got.Kind {
		case Posted:
			if got.Signer != RelaySigner || got.Seq == 0 || !bytes.Equal(v.SignerKey, testvec.Pub("relay-bern")) {
				t.Errorf("%s: posted receipt not made by the relay", v.Name)
			}
		default:
			if got.Party != env.To || got.Seq != 0 || !bytes.Equal(v.SignerKey, testvec.Pub(env.To+"-"+got.Signer)) {
				t.Errorf("%s: receipt not made by a device of the recipient", v.Name)
			}
		}
	}
	for _, v := range f.Invalid {
		if _, err := ParseReceipt(v.Encoding); err == nil {
			t.Errorf("invalid receipt %s (%s) parsed", v.Name, v.Comment)
		}
	}
}

func receiptEqual(a, b *Receipt) bool {
	return a.Kind == b.Kind && a.ID == b.ID && a.Envelope == b.Envelope && a.Party == b.Party &&
		a.Signer == b.Signer && a.Time.Equal(b.Time) && a.Seq == b.Seq &&
		bytes.Equal(a.Raw, b.Raw) && bytes.Equal(a.Sig, b.Sig)
}

func TestReceiptVectorsDetectChanges(t *testing.T) {
	var f receiptFile
	testvec.Read(t, "receipt.json", &f)
	for _, v := range f.Vectors {
		for name, edit := range map[string]func(r *Receipt){
			"kind":     func(r *Receipt) { r.Kind = r.Kind%3 + 1 },
			"id":       func(r *Receipt) { r.ID[0] ^= 1 },
			"envelope": func(r *Receipt) { r.Envelope[31] ^= 1 },
			"party":    func(r *Receipt) { r.Party = "x" + r.Party },
			"signer":   func(r *Receipt) { r.Signer = "x" + r.Signer },
			"time":     func(r *Receipt) { r.Time = r.Time.Add(time.Millisecond) },
			"seq":      func(r *Receipt) { r.Seq++ },
		} {
			r := v.receipt()
			edit(r)
			body, err := r.body()
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(body, v.Encoding[:len(v.Encoding)-64]) {
				t.Errorf("%s/%s: same encoding", v.Name, name)
			}
			if identity.Verify(ed25519.PublicKey(v.SignerKey), ContextReceipt, body, v.Signature) {
				t.Errorf("%s/%s: signature still verifies", v.Name, name)
			}
		}
	}
}

// ---- padding ----

type paddingFile struct {
	Comment string          `json:"comment"`
	Vectors []paddingVector `json:"vectors"`
}

type paddingVector struct {
	N      int64 `json:"n"`
	Padded int64 `json:"padded"`
}

var paddingInputs = []int64{0, 1, 100, 4095, 4096, 4097, 4352, 4353, 5000, 8191, 8192, 8193, 10000, 65535, 65536, 65537,
	100000, 1 << 20, 1<<20 + 1, 1_000_000, 10_000_000, 123_456_789, 1 << 30, 1<<30 + 1, 1<<32 + 12345, 1 << 40, 1<<62 - 1, 1 << 62}

func genPaddingVectors() paddingFile {
	f := paddingFile{Comment: "PaddedSize: Padmé with a floor of 4096 (docs/PROTOCOL.md, section Padding). n is the plaintext " +
		"length before padding, padded the length after it."}
	for _, n := range paddingInputs {
		f.Vectors = append(f.Vectors, paddingVector{n, PaddedSize(n)})
	}
	return f
}

func TestPaddingVectors(t *testing.T) {
	testvec.Sync(t, "padding.json", genPaddingVectors())
	if *testvec.Update {
		return
	}
	var f paddingFile
	testvec.Read(t, "padding.json", &f)
	for _, v := range f.Vectors {
		if got := PaddedSize(v.N); got != v.Padded || specPadme(v.N) != v.Padded {
			t.Errorf("PaddedSize(%d) = %d, spec %d, file %d", v.N, got, specPadme(v.N), v.Padded)
		}
	}
}

// specPadme is Padmé as docs/PROTOCOL.md writes it, with plain loops.
func specPadme(n int64) int64 {
	if n <= MinPadded {
		return MinPadded
	}
	e := 0 // floor(log2 n)
	for n>>(e+1) != 0 {
		e++
	}
	s := 0
	for 1<<s <= e {
		s++
	}
	unit := int64(1) << (e - s)
	return (n + unit - 1) / unit * unit
}
