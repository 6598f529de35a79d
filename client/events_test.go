package client

import (
	"errors"
	"strings"
	"testing"

	"brieftraeger/internal/api"
)

func TestReadEvents(t *testing.T) {
	stream := ": comment\n\nevent: envelope\ndata: {\"id\":\"aa\",\"seq\":3}\n\nevent: other\ndata: {\"id\":\"bb\"}\n\nevent: envelope\ndata: {\"id\":\"cc\"}\n\n"
	var got []string
	if err := readEvents(strings.NewReader(stream), func(e api.MailboxEntry) error { got = append(got, e.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "aa,cc" {
		t.Fatalf("got %v", got)
	}
	if err := readEvents(strings.NewReader("event: envelope\ndata: {nope\n"), func(api.MailboxEntry) error { return nil }); err == nil {
		t.Fatal("bad JSON accepted")
	}
	stop := errors.New("stop")
	if err := readEvents(strings.NewReader(stream), func(api.MailboxEntry) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("callback error not returned: %v", err)
	}
}

// FuzzReadEvents feeds arbitrary streams to the event parser: it must not
// panic, and every event it reports must have come from a data line.
func FuzzReadEvents(f *testing.F) {
	f.Add("event: envelope\ndata: {\"id\":\"aa\",\"from\":\"tehran\",\"precedence\":\"FLASH\",\"size\":4096,\"seq\":1}\n\n")
	f.Add("event: envelope\ndata: {\"id\":\"aa\",\"size\":4,\"envelope\":\"AAJoaWFiY2Q=\"}\n\n")
	f.Add("event: envelope\ndata: {\"id\":\"aa\",\"envelope\":\"not base64!\"}\n\n")
	f.Add(": keepalive\n\n")
	f.Add("event: envelope\ndata: null\n\nevent: envelope\ndata: []\n")
	f.Add(strings.Repeat("x", 70<<10))
	f.Fuzz(func(t *testing.T, s string) {
		n := 0
		readEvents(strings.NewReader(s), func(api.MailboxEntry) error { n++; return nil })
		if n > strings.Count(s, "data: ") {
			t.Fatalf("%d events from %d data lines", n, strings.Count(s, "data: "))
		}
	})
}
