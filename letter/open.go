package letter

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"

	"brieftraeger/envelope"
)

// Sink receives the content of part i (0 is the body) as it is opened.
// Nothing is verified until Open returns nil: a caller that writes parts
// to disk must write them to temporary files and keep them only then.
type Sink func(i int, p PartInfo) (io.Writer, error)

// VerifyFunc checks a letter's header once its trailer is read: the
// signature against the sender's roster, and that the header matches the
// envelope it came in.
type VerifyFunc func(h *Header) error

// Open decrypts a sealed letter with the given epoch identities, streams
// each part to sink while hashing it, reads the trailer, checks each
// digest against it, has verify check the signed header, and checks the
// padding. It returns the header only if all of that holds.
func Open(src io.Reader, ids []age.Identity, verify VerifyFunc, sink Sink) (*Header, error) {
	ar, err := age.Decrypt(src, ids...)
	if err != nil {
		return nil, fmt.Errorf("failed to open letter: %w", err)
	}
	r := bufio.NewReaderSize(ar, 64<<10)
	h, n, err := readHeader(r)
	if err != nil {
		return nil, fmt.Errorf("failed to open letter: %w", err)
	}
	digests := make([][32]byte, len(h.Parts))
	for i, p := range h.Parts {
		if digests[i], err = readPart(r, i, p, sink); err != nil {
			return nil, fmt.Errorf("failed to open letter: %w", err)
		}
		n += int64(p.Size)
	}
	if err := readTrailer(r, h, digests); err != nil {
		return nil, fmt.Errorf("failed to open letter: %w", err)
	}
	if err := verify(h); err != nil {
		return nil, fmt.Errorf("failed to open letter: %w", err)
	}
	if err := checkPadding(r, n+int64(h.trailerLen())); err != nil {
		return nil, fmt.Errorf("failed to open letter: %w", err)
	}
	return h, nil
}

func readHeader(r io.Reader) (*Header, int64, error) {
	pre := make([]byte, len(Magic)+4)
	if _, err := io.ReadFull(r, pre); err != nil {
		return nil, 0, fmt.Errorf("truncated letter: %w", err)
	}
	if string(pre[:len(Magic)]) != Magic {
		return nil, 0, errors.New("not a letter: bad magic")
	}
	l := binary.BigEndian.Uint32(pre[len(Magic):])
	if l > MaxHeaderLen {
		return nil, 0, errors.New("malformed letter header: too long")
	}
	raw := make([]byte, l)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, 0, fmt.Errorf("truncated letter header: %w", err)
	}
	h, err := parseHeader(raw)
	if err != nil {
		return nil, 0, err
	}
	return h, int64(len(pre) + len(raw)), nil
}

func readPart(r io.Reader, i int, p PartInfo, sink Sink) ([32]byte, error) {
	w, err := sink(i, p)
	if err != nil {
		return [32]byte{}, err
	}
	d := newDigester(p.Size)
	defer d.stop()
	n, err := io.CopyBuffer(io.MultiWriter(w, d), io.LimitReader(r, int64(p.Size)), make([]byte, min(64<<10, p.Size+1)))
	if err == nil && n < int64(p.Size) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return [32]byte{}, fmt.Errorf("part %d (%q): read %d of %d bytes: %w", i, p.Name, n, p.Size, err)
	}
	return d.Sum(), nil
}

// readTrailer reads the signed digests and the signature, and checks the
// digests against the ones computed while reading.
func readTrailer(r io.Reader, h *Header, computed [][32]byte) error {
	t := make([]byte, h.trailerLen())
	if _, err := io.ReadFull(r, t); err != nil {
		return fmt.Errorf("truncated letter trailer: %w", err)
	}
	if err := h.setTrailer(t); err != nil {
		return err
	}
	for i, p := range h.Parts {
		if !bytes.Equal(p.Digest[:], computed[i][:]) {
			return fmt.Errorf("part %d (%q): content does not match its signed digest", i, p.Name)
		}
	}
	return nil
}

func checkPadding(r io.Reader, n int64) error {
	want := envelope.PaddedSize(n) - n
	buf := make([]byte, 32<<10)
	var got int64
	for {
		k, err := r.Read(buf)
		for _, b := range buf[:k] {
			if b != 0 {
				return errPadding
			}
		}
		got += int64(k)
		if got > want {
			return errPadding
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if got != want {
		return errPadding
	}
	return nil
}
