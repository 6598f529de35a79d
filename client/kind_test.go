package client_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/testrelay"
	"brieftraeger/letter"
)

// part is an attachment of the given bytes.
func part(name, mediaType, data string) letter.Attachment {
	return letter.Attachment{Name: name, MediaType: mediaType, Size: int64(len(data)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(data)), nil }}
}

// TestCraftedSystemLetters sends, through the real relay, letters that
// carry a heartbeat's or a test letter's part but are not exactly one: a
// FLASH ultimatum with a test-letter part, one with an extra attachment,
// another precedence, a reply-to, another body, a part with an extra JSON
// field. Each is an ordinary letter: no acknowledged receipt is filed
// without a person, the light and the test letter records do not count
// it, and its body and every attachment are in the archive. The letters
// of the exact form, crafted the same way, are taken for what they are
// (the test letter acknowledged), so the test can see the difference.
func TestCraftedSystemLetters(t *testing.T) {
	_, wash, teh := pair(t)
	ctx := context.Background()
	now := time.Now().UTC().Format(time.RFC3339)
	beat := `{"sent_at":"` + now + `","interval_s":60}`
	test := `{"sent_at":"` + now + `","nonce":"00112233445566778899aabbccddeeff"}`
	forms := []struct {
		kind                        client.Kind
		subject, body, name, mt, js string
	}{
		{client.KindHeartbeat, client.HeartbeatSubject, client.HeartbeatBody, "heartbeat.json", client.HeartbeatMediaType, beat},
		{client.KindTestLetter, client.TestLetterSubject, client.TestLetterBody, "test-letter.json", client.TestLetterMediaType, test},
	}
	var exact []string
	for _, f := range forms {
		t.Run(string(f.kind), func(t *testing.T) {
			exactly := func() client.Outgoing {
				return client.Outgoing{To: "tehran", Subject: f.subject, Precedence: envelope.Immediate,
					Body: []byte(f.body), Attachments: []letter.Attachment{part(f.name, f.mt, f.js)}}
			}
			for _, c := range []struct {
				name   string
				change func(o *client.Outgoing)
			}{
				{"ultimatum", func(o *client.Outgoing) {
					o.Subject, o.Precedence, o.Body = "ULTIMATUM-7f3a", envelope.Flash, []byte("MARKER-BODY-7f3a")
				}},
				{"extra attachment", func(o *client.Outgoing) {
					o.Attachments = append(o.Attachments, part("annex.txt", "text/plain", "MARKER-ANNEX-7f3a"))
				}},
				{"flash", func(o *client.Outgoing) { o.Precedence = envelope.Flash }},
				{"reply-to", func(o *client.Outgoing) { o.ReplyTo = bytes.Repeat([]byte{7}, 16) }},
				{"body", func(o *client.Outgoing) { o.Body = []byte("MARKER-BODY-7f3a") }},
				{"extra field", func(o *client.Outgoing) {
					o.Attachments = []letter.Attachment{part(f.name, f.mt, strings.TrimSuffix(f.js, "}")+`,"note":"MARKER"}`)}
				}},
				{"part name", func(o *client.Outgoing) { o.Attachments = []letter.Attachment{part("x.json", f.mt, f.js)} }},
			} {
				o := exactly()
				c.change(&o)
				rec := sendReceive(t, wash, teh, o)
				if k := teh.KindOf(rec); k != client.KindLetter {
					t.Errorf("%s: taken for a %s", c.name, k)
				}
				hb, herr := teh.HeartbeatOf(rec)
				tl, terr := teh.TestLetterOf(rec)
				if hb != nil || tl != nil || herr != nil || terr != nil {
					t.Errorf("%s: heartbeat %+v %v, test letter %+v %v", c.name, hb, herr, tl, terr)
				}
				checkArchived(t, teh, rec, o)
			}
			if st := status(t, teh); f.kind == client.KindHeartbeat && st.LastReceived != nil || st.TestLetters != nil {
				t.Errorf("the light or the test letters counted a crafted letter: %+v %+v", st.LastReceived, st.TestLetters)
			}
			rec := sendReceive(t, wash, teh, exactly())
			if k := teh.KindOf(rec); k != f.kind {
				t.Errorf("the exact form: %s", k)
			}
			exact = append(exact, rec.ID)
		})
	}
	if err := teh.AckTestLetters(ctx); err != nil {
		t.Fatal(err)
	}
	rcs, err := wash.CollectReceipts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	for _, rc := range rcs {
		if rc.Kind == envelope.Acknowledged {
			acked[rc.ID.String()] = true
		}
	}
	if len(acked) != 1 || !acked[exact[1]] {
		t.Errorf("acknowledged without a person: %v; want only the exact test letter %s", acked, exact[1])
	}
	st := status(t, teh)
	if st.LastReceived == nil || st.LastReceived.ID != exact[0] || st.TestLetters == nil || st.TestLetters.LastReceived.ID != exact[1] {
		t.Errorf("the exact forms were not counted: %+v %+v", st.LastReceived, st.TestLetters)
	}
}

// sendReceive sends o from a to b and has b receive it.
func sendReceive(t *testing.T, a, b *client.Party, o client.Outgoing) *client.Received {
	t.Helper()
	sent, _, err := a.Send(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := b.Receive(context.Background(), sent.ID)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// checkArchived checks that the body and each attachment of o are in the
// archive with rec, and that rec holds no acknowledged receipt.
func checkArchived(t *testing.T, p *client.Party, rec *client.Received, o client.Outgoing) {
	t.Helper()
	if rec.Subject != o.Subject || len(rec.Parts) < 1+len(o.Attachments) {
		t.Fatalf("letter %+v", rec)
	}
	body, err := os.ReadFile(filepath.Join(p.LetterDir(rec.ID), rec.Parts[0].Path))
	if err != nil || !bytes.Equal(body, o.Body) {
		t.Errorf("body %q %v", body, err)
	}
	for i, a := range o.Attachments {
		if got := rec.Parts[1+i]; got.Name != a.Name || got.MediaType != a.MediaType {
			t.Errorf("attachment %d: %+v", i, got)
		}
	}
	for _, raw := range rec.Receipts {
		if rc, err := envelope.ParseReceipt(raw); err != nil || rc.Kind != envelope.Delivered {
			t.Errorf("letter %s has a receipt other than delivered: %v", rec.ID, err)
		}
	}
}

// TestSentKindNotBySubject sends a person's IMMEDIATE letter with a
// heartbeat's subject: it is a letter, with a delivery deadline, while a
// heartbeat has none.
func TestSentKindNotBySubject(t *testing.T) {
	clock, wash, _ := pairAt(t)
	ctx := context.Background()
	hb, err := wash.SendHeartbeat(ctx, "tehran", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	sent, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: client.HeartbeatSubject, Precedence: envelope.Immediate,
		Body: []byte(client.HeartbeatBody)})
	if err != nil {
		t.Fatal(err)
	}
	if sent.Kind != client.KindLetter || hb.Kind != client.KindHeartbeat {
		t.Fatalf("kinds: letter %s, heartbeat %s", sent.Kind, hb.Kind)
	}
	clock.Advance(time.Hour)
	late, err := wash.OverdueLetters(nil)
	if err != nil || len(late) != 1 || late[0].ID != sent.ID {
		t.Fatalf("overdue: %v %+v, want only %s", err, late, sent.ID)
	}
}

// TestReceiveAgain checks that a letter received again is not new, and
// that two processes receiving the same letters at once each get every
// letter, one of them as new, and record one delivered receipt: the one
// the relay holds.
func TestReceiveAgain(t *testing.T) {
	_, wash, teh := pair(t)
	ctx := context.Background()
	other, err := client.Load(teh.Dir(), testrelay.Passphrase, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	const n = 12
	var ids []string
	for i := range n {
		sent, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "s", Body: []byte{byte(i)}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sent.ID)
	}
	got := make([][2]*client.Received, n)
	var wg sync.WaitGroup
	for i, p := range []*client.Party{teh, other} {
		wg.Go(func() {
			for j, id := range ids {
				rec, err := p.Receive(ctx, id)
				if err != nil {
					t.Error(err)
					return
				}
				got[j][i] = rec
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if _, err := wash.CollectReceipts(ctx); err != nil {
		t.Fatal(err)
	}
	for j, id := range ids {
		a, b := got[j][0], got[j][1]
		if a.New == b.New {
			t.Errorf("letter %s: new %v and %v; want one of each", id, a.New, b.New)
		}
		disk, err := teh.Letter(id)
		if err != nil || len(disk.Receipts) != 1 || !bytes.Equal(a.Receipts[0], disk.Receipts[0]) || !bytes.Equal(b.Receipts[0], disk.Receipts[0]) {
			t.Fatalf("letter %s: %d receipts recorded (%v); each process holds %d and %d", id, len(disk.Receipts), err, len(a.Receipts), len(b.Receipts))
		}
		s, err := wash.Sent(id)
		if err != nil || len(s.Receipts) != 2 || !bytes.Equal(s.Receipts[1], disk.Receipts[0]) {
			t.Errorf("letter %s: the relay holds another delivered receipt than the one recorded (%v)", id, err)
		}
		again, err := teh.Receive(ctx, id)
		if err != nil || again.New {
			t.Errorf("letter %s read again: new %v, %v", id, again.New, err)
		}
	}
}
