package client_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/letter"
)

// sendPart sends from a to b a letter whose one attachment is data, named
// name, of the given media type, and has b receive it.
func sendPart(t *testing.T, a, b *client.Party, name, mediaType string, data []byte) *client.Received {
	t.Helper()
	ctx := context.Background()
	sent, _, err := a.Send(ctx, client.Outgoing{To: b.Name(), Subject: "s", Precedence: envelope.Immediate,
		Attachments: []letter.Attachment{{Name: name, MediaType: mediaType, Size: int64(len(data)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}}})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := b.Receive(ctx, sent.ID)
	if err != nil {
		t.Fatalf("a letter with a large part was not received: %v", err)
	}
	return rec
}

// TestLargeSmallPartsAreRefused sends heartbeats, test letters and log
// checkpoints padded far beyond their size: valid JSON with 100 KiB of
// trailing spaces, which the decoder would accept. The letter is
// received, but its part is refused unread, and the channel's light does
// not count it.
func TestLargeSmallPartsAreRefused(t *testing.T) {
	_, wash, teh := pair(t)
	ctx := context.Background()
	pad := strings.Repeat(" ", 100<<10)
	beat := []byte(`{"sent_at":"` + time.Now().UTC().Format(time.RFC3339) + `","interval_s":60}` + pad)

	// A letter carries its sender's checkpoint under that name; without
	// one, washington sends none of its own.
	if err := os.Remove(filepath.Join(wash.Dir(), "log.json")); err != nil {
		t.Fatal(err)
	}
	rec := sendPart(t, wash, teh, "relay-log-checkpoint.txt", client.GossipMediaType, []byte(pad))
	if err := teh.CheckGossip(ctx, rec); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("large log checkpoint: %v", err)
	}

	// A heartbeat and a test letter of their exact form but for the
	// padding are ordinary letters.
	for _, f := range []struct{ subject, body, name, mt string }{
		{client.HeartbeatSubject, client.HeartbeatBody, "heartbeat.json", client.HeartbeatMediaType},
		{client.TestLetterSubject, client.TestLetterBody, "test-letter.json", client.TestLetterMediaType},
	} {
		rec = sendReceive(t, wash, teh, client.Outgoing{To: "tehran", Subject: f.subject, Precedence: envelope.Immediate,
			Body: []byte(f.body), Attachments: []letter.Attachment{part(f.name, f.mt, string(beat))}})
		if k := teh.KindOf(rec); k != client.KindLetter {
			t.Errorf("large %s: taken for a %s", f.subject, k)
		}
	}
	st, err := teh.Status(ctx, time.Minute)
	if err != nil || len(st) != 1 || st[0].LastReceived != nil || st[0].TestLetters != nil {
		t.Errorf("the light or the test letters counted a large part: %v %+v", err, st)
	}
}

// TestSmallPartChangedOnDisk grows a received heartbeat's file after it
// was opened: it no longer has its signed size, and is refused.
func TestSmallPartChangedOnDisk(t *testing.T) {
	_, wash, teh := pair(t)
	sent, err := wash.SendHeartbeat(context.Background(), "tehran", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := teh.Receive(context.Background(), sent.ID)
	if err != nil {
		t.Fatal(err)
	}
	if hb, err := teh.HeartbeatOf(rec); err != nil || hb == nil {
		t.Fatalf("heartbeat: %+v, %v", hb, err)
	}
	for _, p := range rec.Parts {
		if p.MediaType == client.HeartbeatMediaType {
			f, err := os.OpenFile(filepath.Join(teh.LetterDir(rec.ID), p.Path), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte(" "))
			f.Close()
		}
	}
	if hb, err := teh.HeartbeatOf(rec); err == nil {
		t.Errorf("a heartbeat grown on disk was read: %+v", hb)
	}
}
