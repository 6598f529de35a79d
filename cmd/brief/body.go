package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"unicode/utf8"
)

// A letter's body is shown on the terminal up to a screenful: at most
// screenLines lines and screenBytes bytes. The whole body stays in its file.
const (
	screenLines = 40
	screenBytes = 4 << 10
)

// printBody prints the start of the body in the file path, escaped with
// printable, and, if there is more, a note of the body's size and path. It
// reads at most screenBytes of the file, whatever its size.
func printBody(w io.Writer, path string) {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(w, "[the body could not be read: %s]\n", printable(err.Error(), false))
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		fmt.Fprintf(w, "[the body could not be read: %s]\n", printable(err.Error(), false))
		return
	}
	buf := make([]byte, screenBytes)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		fmt.Fprintf(w, "[the body could not be read: %s]\n", printable(err.Error(), false))
		return
	}
	head := screenful(buf[:n])
	text := printable(string(head), true)
	fmt.Fprint(w, text)
	if len(text) > 0 && text[len(text)-1] != '\n' {
		fmt.Fprintln(w)
	}
	if int64(len(head)) < st.Size() {
		fmt.Fprintf(w, "[the body goes on: %d of %d bytes shown; the whole body is in %s]\n", len(head), st.Size(), printable(path, false))
	}
}

// screenful returns the start of b up to the end of its screenLines-th
// line, without a rune cut in two at the end.
func screenful(b []byte) []byte {
	for i, at := 0, 0; i < screenLines; i++ {
		k := bytes.IndexByte(b[at:], '\n')
		if k < 0 {
			break
		}
		at += k + 1
		if i == screenLines-1 {
			return b[:at]
		}
	}
	if len(b) == screenBytes {
		for k := 1; k <= utf8.UTFMax && k <= len(b); k++ {
			if utf8.RuneStart(b[len(b)-k]) {
				if !utf8.FullRune(b[len(b)-k:]) {
					b = b[:len(b)-k]
				}
				break
			}
		}
	}
	return b
}
