package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
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

// TestReportEscapesRelayText: a relay's refusal cannot put control
// characters on the terminal or forge a line of brief's own.
func TestReportEscapesRelayText(t *testing.T) {
	var b bytes.Buffer
	err := fmt.Errorf("failed to post letter: %w", &client.RelayError{Status: 403, Code: "no\x1b]0;title\x07pe",
		Message: "no\x1b[2J\nbrief: hint: run this\u202e"})
	report(&b, err)
	want := "brief: failed to post letter: relay refused: no\\x1b[2J\\nbrief: hint: run this\\u202e (no\\x1b]0;title\\ape)\n"
	if b.String() != want {
		t.Errorf("report:\n%q\nwant\n%q", b.String(), want)
	}
}

// TestReportJoinedLines: each line of a joined error is a "brief:" line.
func TestReportJoinedLines(t *testing.T) {
	var b bytes.Buffer
	report(&b, errors.Join(errors.New("first"), errors.New("second\x1b[1m")))
	if want := "brief: first\nbrief: second\\x1b[1m\n"; b.String() != want {
		t.Errorf("report:\n%q\nwant\n%q", b.String(), want)
	}
}

func TestUnreachableHints(t *testing.T) {
	one := &client.UnreachableError{URLs: []string{"https://127.0.0.1:8443"}, Err: errors.New("connection refused")}
	three := &client.UnreachableError{URLs: []string{"https://a:1", "https://b:1", "https://c:1"}, Err: errors.New("connection refused")}
	for _, c := range []struct {
		err  error
		want []string
	}{
		{fmt.Errorf("failed to list mailbox: %w", one), []string{"the relay at https://127.0.0.1:8443 did not answer: is it running, and is this its address?"}},
		{three, []string{"none of the relay's nodes (https://a:1, https://b:1, https://c:1) answered: are they running, and are these their addresses?"}},
		{&client.RelayError{Code: "too_large"}, nil},
	} {
		if got := hints(c.err); !slices.Equal(got, c.want) {
			t.Errorf("hints(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestExitCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{errors.New("failed"), 1},
		{fmt.Errorf("wrapped: %w", usagef("", "bad call")), 2},
		{checkFailed{errors.New("audit failed")}, 3},
		{fmt.Errorf("wrapped: %w", checkFailed{errors.New("red")}), 3},
	} {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// TestFlagsAnywhere: flags are parsed wherever they stand among the
// arguments, up to "--".
func TestFlagsAnywhere(t *testing.T) {
	for _, c := range []struct {
		args []string
		dir  string
		json bool
		body string
		rest []string
	}{
		{[]string{"ID", "--dir", "teh"}, "teh", false, "", []string{"ID"}},
		{[]string{"--dir=teh", "A", "--json", "B"}, "teh", true, "", []string{"A", "B"}},
		{[]string{"A", "-json", "B", "--dir", "teh", "C"}, "teh", true, "", []string{"A", "B", "C"}},
		{[]string{"--body", "--json", "A"}, "", false, "--json", []string{"A"}},
		{[]string{"--body", "-", "-"}, "", false, "-", []string{"-"}},
		{[]string{"A", "--", "--dir", "x"}, "", false, "", []string{"A", "--dir", "x"}},
		{[]string{"--json=false", "A"}, "", false, "", []string{"A"}},
		{[]string{"A", "--body"}, "", false, "", nil}, // missing value: an error
	} {
		fs := newPartyFlags(&env{stderr: io.Discard}, "t", "t")
		body := fs.String("body", "", "")
		err := fs.Parse(c.args)
		if c.rest == nil {
			var u *usageError
			if !errors.As(err, &u) {
				t.Errorf("Parse(%q): %v, want a usage error", c.args, err)
			}
			continue
		}
		if err != nil || *fs.dir != c.dir || *fs.asJSON != c.json || *body != c.body || !slices.Equal(fs.Args(), c.rest) {
			t.Errorf("Parse(%q): err %v, dir %q, json %v, body %q, args %q; want dir %q, json %v, body %q, args %q",
				c.args, err, *fs.dir, *fs.asJSON, *body, fs.Args(), c.dir, c.json, c.body, c.rest)
		}
		if c.body != "" && !fs.given("body") || c.body == "" && fs.given("body") {
			t.Errorf("Parse(%q): given(body) = %v", c.args, fs.given("body"))
		}
	}
}

func TestBuildVersion(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "brieftraeger", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-12-07T12:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	v := buildVersion(bi, true)
	if v.Version != "v1.2.3" || v.Module != "brieftraeger" || v.GoVersion != "go1.26.8" || v.Revision != "abc123" ||
		v.Time != "2026-12-07T12:00:00Z" || v.Modified == nil || !*v.Modified {
		t.Errorf("buildVersion = %+v", v)
	}
	if v := buildVersion(nil, false); v.Version != "unknown" {
		t.Errorf("without build info: %+v", v)
	}
}
