package letter

import (
	"bytes"
	"crypto/ed25519"
	"io"
	"testing"

	"filippo.io/age"
)

// Benchmarks run each letter operation next to the raw age operation it
// is measured against, in the same run, to the same two hybrid recipients.
// docs/BENCHMARKS.md records the ratios.

func BenchmarkSeal1KiB(b *testing.B) {
	f := newFixture(b)
	body := bytes.Repeat([]byte("x"), 1024)
	b.Run("age", func(b *testing.B) {
		for b.Loop() {
			w, _ := age.Encrypt(io.Discard, f.to.Recipient(), f.self.Recipient())
			w.Write(body)
			w.Close()
		}
	})
	b.Run("letter", func(b *testing.B) {
		d := f.draft()
		d.Attachments, d.Body = nil, body
		for b.Loop() {
			if _, err := Seal(io.Discard, d, f.devKey, f.toEp, f.selfEp); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkOpen1KiB(b *testing.B) {
	f := newFixture(b)
	body := bytes.Repeat([]byte("x"), 1024)
	var raw bytes.Buffer
	w, _ := age.Encrypt(&raw, f.to.Recipient(), f.self.Recipient())
	w.Write(body)
	w.Close()
	b.Run("age", func(b *testing.B) {
		for b.Loop() {
			r, err := age.Decrypt(bytes.NewReader(raw.Bytes()), f.to)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, r)
		}
	})
	d := f.draft()
	d.Attachments, d.Body = nil, body
	var sealed bytes.Buffer
	if _, err := Seal(&sealed, d, f.devKey, f.toEp, f.selfEp); err != nil {
		b.Fatal(err)
	}
	b.Run("letter", func(b *testing.B) {
		for b.Loop() {
			if _, err := Open(bytes.NewReader(sealed.Bytes()), []age.Identity{f.to}, verifyWith(f.devPub), discardSink); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The same without the Ed25519 verification, to show what the
	// signature costs on its own.
	b.Run("letter-unverified", func(b *testing.B) {
		for b.Loop() {
			if _, err := Open(bytes.NewReader(sealed.Bytes()), []age.Identity{f.to}, func(*Header) error { return nil }, discardSink); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func verifyWith(pub ed25519.PublicKey) VerifyFunc {
	return func(h *Header) error { return h.Verify(pub) }
}

func discardSink(int, PartInfo) (io.Writer, error) { return io.Discard, nil }

// pattern is a reader of left bytes of a fixed pattern that holds
// nothing: the same bytes whatever the read sizes.
type pattern struct{ left, off int64 }

var patternBlock = bytes.Repeat([]byte("brieftraeger attachment\n"), 4096) // 24 * 4096 bytes

func (p *pattern) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	i := p.off % int64(len(patternBlock))
	n := copy(b, patternBlock[i:min(int64(len(patternBlock)), i+p.left)])
	p.left -= int64(n)
	p.off += int64(n)
	return n, nil
}

const largeSize = 256 << 20

// BenchmarkLarge seals and opens a 256 MiB attachment, streamed from a
// generator into io.Discard, next to raw age doing the same. Memory in use
// does not grow with the attachment: see the allocations per op.
func BenchmarkLarge(b *testing.B) {
	f := newFixture(b)
	b.Run("seal/age", func(b *testing.B) {
		b.SetBytes(largeSize)
		for b.Loop() {
			w, _ := age.Encrypt(io.Discard, f.to.Recipient(), f.self.Recipient())
			io.Copy(w, &pattern{left: largeSize})
			w.Close()
		}
	})
	d := f.draft()
	d.Attachments = []Attachment{{Name: "big.bin", MediaType: "application/octet-stream", Size: largeSize,
		Open: func() (io.ReadCloser, error) { return io.NopCloser(&pattern{left: largeSize}), nil }}}
	b.Run("seal/letter", func(b *testing.B) {
		b.SetBytes(largeSize)
		for b.Loop() {
			if _, err := Seal(io.Discard, d, f.devKey, f.toEp, f.selfEp); err != nil {
				b.Fatal(err)
			}
		}
	})
	var ageCT, letterCT countingFile
	w, _ := age.Encrypt(&ageCT, f.to.Recipient(), f.self.Recipient())
	io.Copy(w, &pattern{left: largeSize})
	w.Close()
	if _, err := Seal(&letterCT, d, f.devKey, f.toEp, f.selfEp); err != nil {
		b.Fatal(err)
	}
	b.Run("open/age", func(b *testing.B) {
		b.SetBytes(largeSize)
		for b.Loop() {
			r, err := age.Decrypt(bytes.NewReader(ageCT.Bytes()), f.to)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, r)
		}
	})
	b.Run("open/letter", func(b *testing.B) {
		b.SetBytes(largeSize)
		for b.Loop() {
			if _, err := Open(bytes.NewReader(letterCT.Bytes()), []age.Identity{f.to}, verifyWith(f.devPub), discardSink); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// countingFile is a bytes.Buffer; the ciphertexts for the open benchmarks
// are held in memory so that disk speed does not enter the measurement.
type countingFile = bytes.Buffer
