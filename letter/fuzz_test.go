package letter

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"filippo.io/age"

	"brieftraeger/envelope"

	"brieftraeger/internal/testvec"
)

// FuzzParseHeader parses arbitrary bytes as a letter header and trailer.
// Whatever parses must re-encode to exactly the input.
func FuzzParseHeader(f *testing.F) {
	var lf letterFile
	testvec.Read(f, "letter.json", &lf)
	for _, v := range lf.Vectors {
		f.Add([]byte(v.Encoding), []byte(v.Trailer))
	}
	h := testLetterHeader()
	if err := h.sign(testvec.Key("washington-laptop")); err != nil {
		f.Fatal(err)
	}
	f.Add(h.Raw, h.Trailer())
	f.Add(h.Raw, h.Sig)
	f.Add([]byte{}, make([]byte, 96))
	var v1 struct {
		Encoding testvec.HexBytes `json:"encoding"`
		Trailer  testvec.HexBytes `json:"trailer"`
	}
	testvec.Read(f, "letter-header-v1.json", &v1)
	f.Add([]byte(v1.Encoding), []byte(v1.Trailer))

	f.Fuzz(func(t *testing.T, raw, trailer []byte) {
		h, err := ParseHeader(raw, trailer)
		if err != nil {
			return
		}
		if !bytes.Equal(h.Raw, raw) || !bytes.Equal(h.Trailer(), trailer) || len(h.Sig) != 64 {
			t.Fatal("Raw or Trailer differ from the input")
		}
		if m := h.SignedMessage(); !bytes.Equal(m, specSignedMessage(raw, splitDigests(trailer))) {
			t.Fatal("SignedMessage does not follow docs/PROTOCOL.md")
		}
		enc, err := h.encode()
		if err != nil {
			t.Fatalf("parsed header does not re-encode: %v", err)
		}
		if raw[0] == 1 {
			// A version-1 header re-encodes as version 2, with
			// SenderRoster 0 and nothing else changed.
			h1, err := ParseHeader(enc, nil)
			if err != nil || enc[0] != Version || h.SenderRoster != 0 || h1.SenderRoster != 0 || !bytes.Equal(specHeader(h), enc) {
				t.Fatalf("a version-1 header re-encoded as %x: %v", enc, err)
			}
			return
		}
		if !bytes.Equal(enc, raw) || !bytes.Equal(specHeader(h), raw) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", enc, raw)
		}
		h2, err := ParseHeader(h.Raw, h.Trailer())
		if err != nil || !headerEqual(h, h2) {
			t.Fatalf("re-parse differs: %v", err)
		}
		var total uint64
		for _, p := range h.Parts {
			total += p.Size
		}
		if total > maxContentSize {
			t.Fatalf("parts add up to %d bytes", total)
		}
		h.Verify(testvec.Pub("washington-laptop"))
	})
}

// splitDigests returns the digests of a trailer: all but its last 64 bytes,
// in 32-byte pieces.
func splitDigests(trailer []byte) [][]byte {
	var d [][]byte
	for b := trailer[:len(trailer)-64]; len(b) > 0; b = b[32:] {
		d = append(d, b[:32])
	}
	return d
}

// FuzzOpen feeds arbitrary bytes to Open as a sealed letter: it must not
// panic, and it must never return a header without an error for them unless
// they are a letter sealed to the identity.
func FuzzOpen(f *testing.F) {
	var sf sealedFile
	testvec.Read(f, "letter-sealed.json", &sf)
	id, err := age.ParseHybridIdentity(sf.RecipientEpoch.Identity)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(sf.Sealed))
	f.Add([]byte(sf.Sealed[:len(sf.Sealed)/2]))
	hdr := bytes.Index(sf.Sealed, []byte("\n--- "))
	f.Add([]byte(sf.Sealed[:hdr+50]))
	f.Add([]byte("age-encryption.org/v1\n-> X25519 \n\n--- \n"))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := Open(bytes.NewReader(data), []age.Identity{id},
			func(h *Header) error { return nil },
			func(int, PartInfo) (io.Writer, error) { return io.Discard, nil })
		if err == nil && h == nil {
			t.Fatal("Open returned neither header nor error")
		}
	})
}

// FuzzOpenPlaintext seals arbitrary plaintexts and opens them, so that the
// fuzzer reaches the letter layout behind age. Whatever opens must be
// exactly the canonical plaintext of the header and parts it yields.
func FuzzOpenPlaintext(f *testing.F) {
	var lf letterFile
	testvec.Read(f, "letter.json", &lf)
	for _, v := range lf.Vectors {
		f.Add([]byte(v.Plaintext))
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var buf bytes.Buffer
		w, err := age.Encrypt(&buf, id.Recipient())
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
		var parts []*bytes.Buffer
		h, err := Open(&buf, []age.Identity{id},
			func(h *Header) error { return nil },
			func(i int, p PartInfo) (io.Writer, error) {
				if i != len(parts) {
					t.Fatalf("sink called for part %d after %d parts", i, len(parts))
				}
				parts = append(parts, new(bytes.Buffer))
				return parts[i], nil
			})
		if err != nil {
			return
		}
		want := binary.BigEndian.AppendUint32([]byte(Magic), uint32(len(h.Raw)))
		want = append(want, h.Raw...)
		if len(parts) != len(h.Parts) {
			t.Fatalf("%d parts sunk, header has %d", len(parts), len(h.Parts))
		}
		for i, p := range parts {
			if uint64(p.Len()) != h.Parts[i].Size {
				t.Fatalf("part %d has %d bytes, header says %d", i, p.Len(), h.Parts[i].Size)
			}
			if !bytes.Equal(testvec.SpecHash(ContextPart, p.Bytes()), h.Parts[i].Digest[:]) {
				t.Fatalf("part %d does not match its digest", i)
			}
			want = append(want, p.Bytes()...)
		}
		want = append(want, h.Trailer()...)
		n := int64(len(want))
		want = append(want, make([]byte, envelope.PaddedSize(n)-n)...)
		if !bytes.Equal(want, data) {
			t.Fatalf("opened a plaintext that is not canonical:\n got %x\nwant %x", data, want)
		}
	})
}
