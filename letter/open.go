package letter

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"

	"brieftraeger/envelope"
)

// Sink receives the content of part i (0 is the body) as it is opened. The
// content is not yet verified until Open returns nil: a caller that writes
// parts to disk should write them to temporary files and keep them only
// then.
type Sink func(i int, p PartInfo) (io.Writer, error)

// VerifyFunc checks a parsed header before any content is read: the
// signature against the sender's roster, and that the header matches the
// envelope it came in.
type VerifyFunc func(h *Header) error

// Open decrypts a sealed letter with the given epoch identities, has verify
// check its header, streams each part to sink while checking its digest,
// and checks the padding. It returns the header only if all of that holds.
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
	if err := verify(h); err != nil {
		return nil, fmt.Errorf("failed to open letter: %w", err)
	}
	for i, p := range h.Parts {
		if err := readPart(r, i, p, sink); err != nil {
			return nil, fmt.Errorf("failed to open letter: %w", err)
		}
		n += int64(p.Size)
	}
	if err := checkPadding(r, n); err != nil {
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
	buf := make([]byte, int(l)+64)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, 0, fmt.Errorf("truncated letter header: %w", err)
	}
	h, err := ParseHeader(buf[:l], buf[l:])
	if err != nil {
		return nil, 0, err
	}
	return h, int64(len(pre) + len(buf)), nil
}

func readPart(r io.Reader, i int, p PartInfo, sink Sink) error {
	w, err := sink(i, p)
	if err != nil {
		return err
	}
	d := newPartHash()
	n, err := io.CopyN(io.MultiWriter(w, d), r, int64(p.Size))
	if err != nil {
		return fmt.Errorf("part %d (%q): read %d of %d bytes: %w", i, p.Name, n, p.Size, err)
	}
	if [32]byte(d.Sum(nil)) != p.Digest {
		return fmt.Errorf("part %d (%q): content does not match its signed digest", i, p.Name)
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
