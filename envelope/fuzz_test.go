package envelope

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"testing"

	"brieftraeger/internal/testvec"
)

func readDoc(t testing.TB) string {
	b, err := os.ReadFile("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzParseEnvelope parses arbitrary bytes as a signed header and as an
// envelope stream. Whatever parses must re-encode to exactly the input.
func FuzzParseEnvelope(f *testing.F) {
	var vf envelopeFile
	testvec.Read(f, "envelope.json", &vf)
	for _, v := range vf.Vectors {
		f.Add([]byte(v.Encoding))
		f.Add([]byte(v.Stream))
	}
	for _, v := range vf.Invalid {
		f.Add([]byte(v.Encoding))
	}
	f.Add([]byte{})
	f.Add([]byte{0x04, 0x00})

	f.Fuzz(func(t *testing.T, data []byte) {
		if h, err := Parse(data); err == nil {
			if !bytes.Equal(h.Raw, data) || !bytes.Equal(h.Sig, data[len(data)-64:]) {
				t.Fatal("Raw or Sig differ from the input")
			}
			body, err := h.body()
			if err != nil {
				t.Fatalf("parsed header does not re-encode: %v", err)
			}
			if !bytes.Equal(append(body, h.Sig...), data) {
				t.Fatalf("re-encoding differs:\n got %x\nwant %x", body, data)
			}
			h2, err := Parse(h.Raw)
			if err != nil || !headerEqual(h, h2) {
				t.Fatalf("re-parse differs: %v", err)
			}
			h.Verify(testvec.Pub("washington-laptop"))
		}
		r := bytes.NewReader(data)
		h, err := ReadHeader(r)
		if err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(data))
		if !bytes.Equal(h.Raw, data[2:2+n]) || r.Len() != len(data)-2-n {
			t.Fatal("ReadHeader read the wrong bytes")
		}
		var buf bytes.Buffer
		if err := WriteHeader(&buf, h); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(r)
		if !bytes.Equal(append(buf.Bytes(), rest...), data) {
			t.Fatal("WriteHeader does not reproduce the stream")
		}
	})
}

// FuzzParseReceipt parses arbitrary bytes as a signed receipt. Whatever
// parses must re-encode to exactly the input.
func FuzzParseReceipt(f *testing.F) {
	var vf receiptFile
	testvec.Read(f, "receipt.json", &vf)
	for _, v := range vf.Vectors {
		f.Add([]byte(v.Encoding))
	}
	for _, v := range vf.Invalid {
		f.Add([]byte(v.Encoding))
	}
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseReceipt(data)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Raw, data) || !bytes.Equal(r.Sig, data[len(data)-64:]) {
			t.Fatal("Raw or Sig differ from the input")
		}
		body, err := r.body()
		if err != nil {
			t.Fatalf("parsed receipt does not re-encode: %v", err)
		}
		if !bytes.Equal(append(body, r.Sig...), data) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", body, data)
		}
		r2, err := ParseReceipt(r.Raw)
		if err != nil || !receiptEqual(r, r2) {
			t.Fatalf("re-parse differs: %v", err)
		}
		if r.Kind < Posted || r.Kind > Acknowledged {
			t.Fatalf("parsed kind %d", r.Kind)
		}
		r.Verify(testvec.Pub("relay-bern"))
	})
}

// FuzzPaddedSize checks Padmé's properties over the lengths a letter can
// have (0 to 2^62).
func FuzzPaddedSize(f *testing.F) {
	for _, n := range paddingInputs {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		if n < 0 || n > 1<<62 {
			return
		}
		p := PaddedSize(n)
		if p < n || p < MinPadded || p != specPadme(n) || PaddedSize(p) != p {
			t.Fatalf("PaddedSize(%d) = %d, spec %d", n, p, specPadme(n))
		}
		if n > MinPadded && float64(p-n) > 0.12*float64(n) {
			t.Fatalf("PaddedSize(%d) = %d: overhead above 12%%", n, p)
		}
		if n > 0 && PaddedSize(n-1) > p {
			t.Fatalf("PaddedSize not monotonic at %d", n)
		}
	})
}
