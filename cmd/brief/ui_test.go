package main

import (
	"bytes"
	"testing"

	"brieftraeger/client"
	"brieftraeger/internal/api"
)

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

func TestReportStorageRefusals(t *testing.T) {
	for _, c := range []struct{ code, hint string }{
		{api.CodeStorageFull, "brief: hint: the relay is out of disk space"},
		{api.CodeUnavailable, "brief: hint: the relay's storage is not answering"},
	} {
		var b bytes.Buffer
		report(&b, &client.RelayError{Status: 507, Code: c.code, Message: "out of space"})
		if !bytes.HasPrefix(b.Bytes(), []byte("brief: relay refused: ")) || !bytes.Contains(b.Bytes(), []byte("\n"+c.hint)) {
			t.Errorf("report of %s:\n%s", c.code, b.Bytes())
		}
	}
}
