package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"brieftraeger/client"
)

// TestReadViewAgain checks how read and watch show a letter that the relay
// announces again (opened before, not asked for by id), and that they
// leave out heartbeats and test letters unless --all. Each record carries
// its kind, so no party is needed to judge it.
func TestReadViewAgain(t *testing.T) {
	opened := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rec := func(k client.Kind) *client.Received {
		return &client.Received{ID: "6a906fc9f8468b0cf8900fc71a0d024a", From: "washington", Device: "laptop", Seq: 4,
			Precedence: "FLASH", Subject: "s", Kind: k, OpenedAt: opened}
	}
	for _, c := range []struct {
		name string
		v    readView
		kind client.Kind
		want string // a line of the output; "" for none
	}{
		{"again", readView{}, client.KindLetter, "letter 6a906fc9f8468b0cf8900fc71a0d024a  FLASH  from washington/laptop  seq 4  already opened at " + opened.Local().Format(time.RFC1123)},
		{"again json", readView{asJSON: true}, client.KindLetter, `"kind":"letter","new":false}`},
		{"heartbeat", readView{}, client.KindHeartbeat, ""},
		{"test letter json", readView{asJSON: true}, client.KindTestLetter, ""},
		{"test letter all", readView{asJSON: true, all: true}, client.KindTestLetter, `"kind":"test_letter","new":false}`},
	} {
		var out bytes.Buffer
		c.v.show(&env{stdout: &out}, nil, rec(c.kind))
		got := out.String()
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
