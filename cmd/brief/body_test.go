package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrintBody checks that a body is shown up to a screenful, escaped,
// with a note of where the whole body is when it goes on.
func TestPrintBody(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, body string
		shown      string // what must be printed before any note
		note       bool
	}{
		{"short", "Dear colleague,\nyes.\n", "Dear colleague,\nyes.\n", false},
		{"no final newline", "yes", "yes\n", false},
		{"escaped", "a\x1b[2Jb\n", "a\\x1b[2Jb\n", false},
		{"many lines", strings.Repeat("line\n", 100), strings.Repeat("line\n", screenLines), true},
		{"exactly a screen", strings.Repeat("line\n", screenLines), strings.Repeat("line\n", screenLines), false},
		// 3-byte runes do not divide 4096: the cut rune is left out whole.
		{"long line", strings.Repeat("€", 2000), strings.Repeat("€", screenBytes/3) + "\n", true},
	}
	for _, c := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
		if err := os.WriteFile(path, []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		printBody(&out, path)
		got, note, _ := strings.Cut(out.String(), "[the body goes on: ")
		if got != c.shown {
			t.Errorf("%s: printed %q, want %q", c.name, got, c.shown)
		}
		if (note != "") != c.note || c.note && !strings.Contains(note, "the whole body is in "+path) {
			t.Errorf("%s: note %q", c.name, note)
		}
	}
}
