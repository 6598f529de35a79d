package client_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/testrelay"
	"brieftraeger/letter"
)

// sendLetter sends a letter with an attachment from p to to.
func sendLetter(t *testing.T, p *client.Party, to, subject, body string) *client.SentLetter {
	t.Helper()
	return sendAnnex(t, p, to, subject, body, "annex of "+subject)
}

// sendAnnex sends a letter with the attachment annex.txt holding annex.
func sendAnnex(t *testing.T, p *client.Party, to, subject, body, annex string) *client.SentLetter {
	t.Helper()
	sent, _, err := p.Send(context.Background(), client.Outgoing{To: to, Subject: subject, Precedence: envelope.Priority,
		Body: []byte(body), Attachments: []letter.Attachment{part("annex.txt", "text/plain", annex)}})
	if err != nil {
		t.Fatal(err)
	}
	return sent
}

// annexes are a small letter's attachment, whose sealed copy is kept in
// records.db, and a large one's, kept in sent/ID.age.
var annexes = map[string]string{"small": "a small annex", "large": strings.Repeat("a large annex\n", 30_000)}

func TestOpenSent(t *testing.T) {
	_, wash, _ := pair(t)
	for size, annex := range annexes {
		sent := sendAnnex(t, wash, "tehran", "grain", "the wheat tonnage", annex)
		o, err := wash.OpenSent(sent.ID)
		if err != nil {
			t.Fatalf("%s: %v", size, err)
		}
		if o.Dir != filepath.Join(wash.Dir(), "sent", sent.ID) {
			t.Fatalf("%s: opened into %s", size, o.Dir)
		}
		l := o.Letter
		if l.ID != sent.ID || l.From != "washington" || l.To != "tehran" || l.Subject != "grain" || l.Seq != sent.Seq || len(l.Parts) < 2 {
			t.Fatalf("%s: opened %+v", size, l)
		}
		if got := readFile(t, filepath.Join(o.Dir, l.Parts[0].Path)); string(got) != "the wheat tonnage" {
			t.Fatalf("%s: body %q", size, got)
		}
		if l.Parts[1].Path != filepath.Join("files", "annex.txt") || string(readFile(t, filepath.Join(o.Dir, l.Parts[1].Path))) != annex {
			t.Fatalf("%s: attachment %+v", size, l.Parts[1])
		}
		if _, err := os.Stat(filepath.Join(o.Dir, client.SealedName)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: a second copy of the ciphertext in the opened folder: %v", size, err)
		}
		// A second call returns the folder without opening the letter
		// again: it no longer needs the sealed copy.
		if err := client.SetSealedCopy(wash, sent.ID, nil); err != nil {
			t.Fatal(err)
		}
		again, err := wash.OpenSent(sent.ID)
		if err != nil || again.Dir != o.Dir || again.Letter.Subject != "grain" || len(again.Letter.Parts) != len(l.Parts) {
			t.Fatalf("%s: second call: %v %+v", size, err, again)
		}
	}
}

// TestOpenSentTampered checks that a sealed copy that is not the letter
// the envelope names is refused and leaves no folder behind: a flipped
// byte anywhere, or another letter's sealed copy in its place.
func TestOpenSentTampered(t *testing.T) {
	_, wash, _ := pair(t)
	for size, annex := range annexes {
		sent := sendAnnex(t, wash, "tehran", "one", "first", annex)
		other := sendAnnex(t, wash, "tehran", "two", "second", annex)
		orig, err := client.SealedCopy(wash, sent.ID)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := client.SealedCopy(wash, other.ID)
		if err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string][]byte{
			"age header":     flip(orig, 20),
			"ciphertext":     flip(orig, len(orig)/2),
			"last byte":      flip(orig, len(orig)-1),
			"another's copy": theirs,
		} {
			if err := client.SetSealedCopy(wash, sent.ID, data); err != nil {
				t.Fatal(err)
			}
			if _, err := wash.OpenSent(sent.ID); err == nil {
				t.Errorf("%s, %s: a tampered sealed copy opened", size, name)
			}
			if _, err := os.Stat(filepath.Join(wash.Dir(), "sent", sent.ID)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s, %s: a folder was left: %v", size, name, err)
			}
		}
		if err := client.SetSealedCopy(wash, sent.ID, orig); err != nil {
			t.Fatal(err)
		}
		if _, err := wash.OpenSent(sent.ID); err != nil {
			t.Fatalf("%s: the genuine copy: %v", size, err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(wash.Dir(), "tmp")); len(entries) != 0 {
		t.Fatalf("staging left in tmp/: %v", entries)
	}
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 1
	return b
}

func TestOpenSentWithoutCopy(t *testing.T) {
	_, wash, _ := pair(t)
	ctx := context.Background()
	beat, err := wash.SendHeartbeat(ctx, "tehran", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wash.OpenSent(beat.ID); !errors.Is(err, client.ErrSealedCopyRemoved) {
		t.Fatalf("heartbeat: %v", err)
	}
	sent := sendLetter(t, wash, "tehran", "old", "kept by an older version")
	if err := client.SetSealedCopy(wash, sent.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := wash.OpenSent(sent.ID); !errors.Is(err, client.ErrNoSealedCopy) {
		t.Fatalf("letter without a sealed copy: %v", err)
	}
	sh, err := wash.Show(sent.ID)
	if err != nil || sh.NoText == "" || sh.Dir != "" || sh.Subject != "old" || len(sh.Receipts) != 1 || !sh.Receipts[0].Verified {
		t.Fatalf("show: %v %+v", err, sh)
	}
}

// TestReplyThreading answers a letter and the answer: both replies carry
// the first letter's thread and the letter they answer, on both sides,
// and list --thread finds all three letters on both sides.
func TestReplyThreading(t *testing.T) {
	_, wash, teh := pair(t)
	ctx := context.Background()
	first := sendLetter(t, wash, "tehran", "grain", "the wheat")
	receive(t, teh, first.ID)

	o, err := teh.Reply(first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o.To != "washington" || o.Subject != "Re: grain" || o.Precedence != envelope.Priority ||
		hex.EncodeToString(o.Thread) != first.ID || hex.EncodeToString(o.ReplyTo) != first.ID {
		t.Fatalf("reply %+v", o)
	}
	o.Body = []byte("agreed")
	r1, _, err := teh.Send(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	receive(t, wash, r1.ID)
	rec, err := wash.Letter(r1.ID)
	if err != nil || rec.Thread != first.ID || rec.ReplyTo != first.ID {
		t.Fatalf("the received reply: %v thread %q reply_to %q", err, rec.Thread, rec.ReplyTo)
	}

	o, err = wash.Reply(r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o.To != "tehran" || o.Subject != "Re: grain" || hex.EncodeToString(o.Thread) != first.ID || hex.EncodeToString(o.ReplyTo) != r1.ID {
		t.Fatalf("reply to the reply %+v", o)
	}
	o.Body = []byte("terms")
	r2, _, err := wash.Send(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	receive(t, teh, r2.ID)
	other := sendLetter(t, wash, "tehran", "weather", "rain")
	receive(t, teh, other.ID)

	for _, p := range []*client.Party{wash, teh} {
		list, err := p.List(client.ListFilter{Thread: first.ID})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, l := range list {
			ids = append(ids, l.ID)
		}
		if want := []string{r2.ID, r1.ID, first.ID}; !slices.Equal(ids, want) {
			t.Errorf("%s: thread lists %v, want %v (newest first)", p.Name(), ids, want)
		}
	}
	// A reply to a letter this device sent goes to the same party.
	if o, err := wash.Reply(other.ID); err != nil || o.To != "tehran" || hex.EncodeToString(o.Thread) != other.ID {
		t.Fatalf("reply to a sent letter: %v %+v", err, o)
	}
	beat, err := wash.SendHeartbeat(ctx, "tehran", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wash.Reply(beat.ID); err == nil {
		t.Fatal("a heartbeat was answered")
	}
}

// TestListSearchPlans checks List's answers against the letters filled
// in, for searches that take each of its plans: a word few letters hold
// (by row), one that more than fewMatches hold (along the index), two
// words, within a party and a thread.
func TestListSearchPlans(t *testing.T) {
	if testing.Short() {
		t.Skip("fills an archive of 15,003 letters")
	}
	w := testrelay.Start(t, testrelay.Options{})
	p := w.Party("tehran")
	const n = 15_003 // "wheat" in 5,001 letters: more than fewMatches
	if err := client.FillArchive(p, "washington", time.Unix(1.7e9, 0), n, archiveWords()); err != nil {
		t.Fatal(err)
	}
	// newest returns the ids of the newest letters i < n with keep(i).
	newest := func(limit int, keep func(i int) bool) []string {
		var ids []string
		for i := n - 1; i >= 0 && len(ids) < limit; i-- {
			if keep(i) {
				var id envelope.ID
				binary.BigEndian.PutUint64(id[:], uint64(i)+1)
				ids = append(ids, id.String())
			}
		}
		return ids
	}
	every := func(k int) func(int) bool { return func(i int) bool { return i%k == 0 } }
	for name, c := range map[string]struct {
		f    client.ListFilter
		want []string
	}{
		"rare":         {client.ListFilter{Search: "quetzal"}, newest(100, every(10_000))},
		"common":       {client.ListFilter{Search: "wheat", Limit: 50}, newest(50, every(3))},
		"two words":    {client.ListFilter{Search: "harvest WHEAT"}, newest(100, every(6))},
		"party":        {client.ListFilter{Search: "wheat", Party: "washington"}, newest(100, every(3))},
		"other party":  {client.ListFilter{Search: "wheat", Party: "ankara"}, nil},
		"sent":         {client.ListFilter{Search: "wheat", Box: "sent"}, nil},
		"thread":       {client.ListFilter{Thread: newest(1, every(7))[0]}, newest(1, every(7))},
		"thread, word": {client.ListFilter{Thread: newest(1, every(7))[0], Search: "wheat"}, nil},
		"all":          {client.ListFilter{All: true, Limit: 3}, newest(3, every(1))},
	} {
		list, err := p.List(c.f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var ids []string
		for _, l := range list {
			ids = append(ids, l.ID)
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("%s: listed %d letters %v, want %d %v", name, len(ids), ids[:min(3, len(ids))], len(c.want), c.want[:min(3, len(c.want))])
		}
	}
}
