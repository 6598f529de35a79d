package main

import "testing"

func TestPrintable(t *testing.T) {
	for _, c := range []struct {
		in        string
		multiline bool
		want      string
	}{
		{"plain subject", false, "plain subject"},
		{"Vorschläge für Genf", false, "Vorschläge für Genf"},
		{"fake\nsignature verified", false, `fake\nsignature verified`},
		{"line one\nline two\ttab", true, "line one\nline two\ttab"},
		{"\x1b[2J\x1b[1;32mok", true, `\x1b[2J\x1b[1;32mok`},
		{"bad \xff byte", false, `bad \xff byte`},
		{"rtl \u202e override", false, `rtl \u202e override`},
		{"\r\x00", true, `\r\x00`},
	} {
		if got := printable(c.in, c.multiline); got != c.want {
			t.Errorf("printable(%q, %v) = %q, want %q", c.in, c.multiline, got, c.want)
		}
	}
}
