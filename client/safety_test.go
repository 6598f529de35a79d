package client_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/testrelay"
	"brieftraeger/letter"
)

func send(t *testing.T, p *client.Party, subject string) *client.SentLetter {
	t.Helper()
	sent, _, err := p.Send(context.Background(), client.Outgoing{To: "tehran", Subject: subject, Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	return sent
}

// TestRefusedReceiptsDoNotStopCollection files receipts the sender cannot
// record, one for a letter it has no record of and one that does not
// verify, ahead of a good one: the good one is recorded, the others are
// set aside, and the cursor moves past all three.
func TestRefusedReceiptsDoNotStopCollection(t *testing.T) {
	_, wash, teh := pair(t)
	ctx := context.Background()
	unknown, tampered, good := send(t, wash, "one"), send(t, wash, "two"), send(t, wash, "three")
	if err := client.DeleteSentRecord(wash, unknown.ID); err != nil {
		t.Fatal(err)
	}
	tampered.Envelope[len(tampered.Envelope)-1] ^= 1
	if err := client.PutSentRecord(wash, tampered); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*client.SentLetter{unknown, tampered, good} {
		if _, err := teh.Receive(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	rcs, err := wash.CollectReceipts(ctx)
	if err != nil {
		t.Fatalf("collection stopped: %v", err)
	}
	if len(rcs) != 1 || rcs[0].ID.String() != good.ID || rcs[0].Kind != envelope.Delivered {
		t.Fatalf("want the good delivered receipt, got %+v", rcs)
	}
	if s, _ := wash.Sent(good.ID); len(s.Receipts) != 2 {
		t.Fatalf("good letter has %d receipts recorded", len(s.Receipts))
	}
	refused, err := wash.RefusedReceipts()
	if err != nil || len(refused) != 2 {
		t.Fatalf("refused: %v %+v", err, refused)
	}
	for i, want := range []struct{ id, reason string }{{unknown.ID, "no record"}, {tampered.ID, "does not match"}} {
		r := refused[i]
		if r.ID != want.id || r.Kind != "delivered" || !strings.Contains(r.Reason, want.reason) || r.Seq == 0 || len(r.Receipt) == 0 {
			t.Errorf("refusal %d: %+v", i, r)
		}
	}

	// The cursor moved past the refused receipts: the next call sees only
	// the new acknowledged receipt, and refuses nothing again.
	if _, err := teh.Ack(ctx, good.ID); err != nil {
		t.Fatal(err)
	}
	rcs, again, err := wash.CollectReceiptsAndRefusals(ctx)
	if err != nil || len(rcs) != 1 || rcs[0].Kind != envelope.Acknowledged || len(again) != 0 {
		t.Fatalf("second collection: %v %+v, refused %+v", err, rcs, again)
	}
	if all, _ := wash.RefusedReceipts(); len(all) != 2 {
		t.Fatalf("%d refusals kept", len(all))
	}
}

// TestSendRecordsBeforePosting checks that the sent record exists, with no
// receipts, while the letter is being posted, and that it stays, marked,
// when posting fails.
func TestSendRecordsBeforePosting(t *testing.T) {
	w, wash, _ := pair(t)
	ctx := context.Background()
	var during []string
	sent, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "s", Body: []byte("b"),
		Progress: func(stage string, done, total int64) {
			if stage != "posting" || done != total {
				return
			}
			ids, err := wash.SentIDs()
			if err != nil {
				t.Error(err)
			}
			for _, id := range ids {
				s, _ := wash.Sent(id)
				during = append(during, id)
				if len(s.Receipts) != 0 {
					t.Errorf("record has %d receipts before the answer", len(s.Receipts))
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(during, []string{sent.ID}) {
		t.Fatalf("records while posting: %v", during)
	}
	if s, _ := wash.Sent(sent.ID); len(s.Receipts) != 1 || s.PostError != "" {
		t.Fatalf("record after posting: %+v", s)
	}

	// The relay refuses a letter on a channel it has not opened.
	cairo := w.Party("cairo")
	w.Pin(wash, cairo)
	_, _, err = wash.Send(ctx, client.Outgoing{To: "cairo", Subject: "closed", Body: []byte("b")})
	if err == nil {
		t.Fatal("letter on a closed channel posted")
	}
	ids, _ := wash.SentIDs()
	if len(ids) != 2 {
		t.Fatalf("failed letter not recorded: %v", ids)
	}
	failed, err := wash.Sent(ids[1])
	if err != nil || failed.To != "cairo" || len(failed.Receipts) != 0 || failed.PostError == "" {
		t.Fatalf("failed letter's record: %v %+v", err, failed)
	}
}

// TestReceiptsAttachToUnpostedRecord leaves a record as a crash after the
// relay committed would: without the posted receipt. The delivered
// receipt still attaches to it.
func TestReceiptsAttachToUnpostedRecord(t *testing.T) {
	_, wash, teh := pair(t)
	ctx := context.Background()
	sent := send(t, wash, "s")
	sent.Receipts = nil
	if err := client.PutSentRecord(wash, sent); err != nil {
		t.Fatal(err)
	}
	if _, err := teh.Receive(ctx, sent.ID); err != nil {
		t.Fatal(err)
	}
	rcs, refused, err := wash.CollectReceiptsAndRefusals(ctx)
	if err != nil || len(rcs) != 1 || len(refused) != 0 {
		t.Fatalf("collect: %v %+v %+v", err, rcs, refused)
	}
	if s, _ := wash.Sent(sent.ID); len(s.Receipts) != 1 {
		t.Fatalf("record has %d receipts", len(s.Receipts))
	}
}

// TestArchiveSyncedBeforeRename checks the order of folder syncs as a
// letter with an attachment is archived: the staged files/ folder, then
// the stage itself, then (after the rename) archive/.
func TestArchiveSyncedBeforeRename(t *testing.T) {
	_, wash, teh := pair(t)
	ctx := context.Background()
	sent, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "s", Body: []byte("b"),
		Attachments: []letter.Attachment{{Name: "a.txt", MediaType: "text/plain", Size: 5,
			Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("annex")), nil }}}})
	if err != nil {
		t.Fatal(err)
	}
	var synced []string
	restore := client.WatchSyncDir(func(dir string) {
		rel, _ := filepath.Rel(teh.Dir(), dir)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if parts[0] == "tmp" && len(parts) > 1 {
			parts = append([]string{"stage"}, parts[2:]...) // tmp/open-N is the stage
		}
		synced = append(synced, strings.Join(parts, "/"))
	})
	_, err = teh.Receive(ctx, sent.ID)
	restore()
	if err != nil {
		t.Fatal(err)
	}
	files := slices.Index(synced, "stage/files")
	archive := slices.Index(synced, "archive")
	stage := slices.Index(synced[max(files, 0):], "stage")
	if files < 0 || stage < 0 || archive < files+stage {
		t.Fatalf("folders synced in the order %v", synced)
	}
}

// TestLoadSweepsTmp leaves what a crash would in tmp/, and one entry a
// running operation holds: Load removes the leftovers only.
func TestLoadSweepsTmp(t *testing.T) {
	_, _, teh := pair(t)
	tmp := filepath.Join(teh.Dir(), "tmp")
	for _, name := range []string{"open-1/files", "open-busy"} {
		if err := os.MkdirAll(filepath.Join(tmp, name), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(tmp, "open-1", "body.txt"), []byte("plaintext"), 0o600)
	os.WriteFile(filepath.Join(tmp, "open-1", "files", "a.txt"), []byte("plaintext"), 0o600)
	os.WriteFile(filepath.Join(tmp, "sealed-1"), []byte("ciphertext"), 0o600)
	busy, err := os.Open(filepath.Join(tmp, "open-busy"))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if err := syscall.Flock(int(busy.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	// An entry younger than a minute may be one that another process
	// has just made and not locked yet: it stays.
	p, err := client.Load(teh.Dir(), testrelay.Passphrase, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if entries, _ := os.ReadDir(tmp); len(entries) != 3 {
		t.Fatalf("tmp/ holds %d entries after a Load within the minute, want 3", len(entries))
	}
	later := func() time.Time { return time.Now().Add(2 * time.Minute) }
	if p, err = client.Load(teh.Dir(), testrelay.Passphrase, client.Options{Now: later}); err != nil {
		t.Fatal(err)
	}
	p.Close()
	entries, _ := os.ReadDir(tmp)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if !slices.Equal(left, []string{"open-busy"}) {
		t.Fatalf("tmp/ holds %v after Load", left)
	}
}
