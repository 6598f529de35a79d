package client_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/testrelay"
	"brieftraeger/tlog"
)

// sentAndLogged sends a letter from wash to teh, has teh receive it and
// wash collect the delivered receipt, and waits up to 10 s for the relay
// to log the envelope and both receipts.
func sentAndLogged(t *testing.T, wash, teh *client.Party) client.LoggedReport {
	t.Helper()
	ctx := context.Background()
	sent, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "s", Precedence: envelope.Routine, Body: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := teh.Receive(ctx, sent.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := wash.CollectReceipts(ctx); err != nil {
		t.Fatal(err)
	}
	var rep client.LoggedReport
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if rep, err = wash.VerifySentLogged(ctx, sent.ID); err != nil {
			t.Fatal(err)
		}
		if rep.AllLogged() || time.Now().After(deadline) {
			break
		}
	}
	var names []string
	for _, r := range rep.Records {
		names = append(names, r.Record)
	}
	if !rep.AllLogged() || !slices.Equal(names, []string{"envelope", "posted", "delivered"}) {
		t.Fatalf("records of letter %s: %+v", sent.ID, rep.Records)
	}
	return rep
}

// forge signs a checkpoint with the relay's own log key.
func forge(t *testing.T, w *testrelay.World, size uint64, root [32]byte) []byte {
	t.Helper()
	origin := w.Dir.Descriptor.LogOrigin
	skey, _, err := tlog.NewLogKey(origin, w.Dir.LogKey)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := tlog.Sign(origin, size, root, signer)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func writeLog(t *testing.T, p *client.Party, origin string, msg []byte) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]string{"origin": origin, "checkpoint": string(msg)})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.Dir(), "log.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLogWitness(t *testing.T) {
	w, wash, teh := pair(t)
	ctx := context.Background()
	first := sentAndLogged(t, wash, teh)
	cp1, err := wash.SyncLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp1.Size <= first.Records[2].Index || cp1.Origin != w.Dir.Descriptor.LogOrigin {
		t.Fatalf("checkpoint %d %q after leaf %d", cp1.Size, cp1.Origin, first.Records[2].Index)
	}

	// The log grows; the new checkpoint is accepted with a consistency proof.
	second := sentAndLogged(t, wash, teh)
	cp2, err := wash.SyncLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp2.Size <= cp1.Size || cp2.Size <= second.Records[2].Index {
		t.Fatalf("log did not grow: %d then %d", cp1.Size, cp2.Size)
	}
	if kept, err := wash.LoggedCheckpoint(); err != nil || kept.Size != cp2.Size || kept.Root != cp2.Root {
		t.Fatalf("log.json holds %+v, %v", kept, err)
	}

	var random [32]byte
	rand.Read(random[:])
	for _, tc := range []struct {
		name string
		size uint64
		want error
	}{
		{"split view", cp2.Size, tlog.ErrSplitView},
		{"forged smaller tree", cp2.Size - 1, tlog.ErrInconsistent},
		{"rollback", cp2.Size + 5, tlog.ErrRollback},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stored := writeLog(t, wash, cp2.Origin, forge(t, w, tc.size, random))
			for _, call := range []func() error{
				func() error { _, err := wash.SyncLog(ctx); return err },
				func() error {
					_, err := wash.VerifyLogged(ctx, tlog.LeafData(tlog.KindEnvelope, mustSent(t, wash, first.ID)))
					return err
				},
			} {
				err := call()
				var alarm *client.InconsistentLogError
				if !errors.As(err, &alarm) || !errors.Is(err, tc.want) ||
					!strings.HasPrefix(err.Error(), "ALARM: relay swiss showed an inconsistent log: ") {
					t.Fatalf("got %v, want an alarm for %v", err, tc.want)
				}
				if after, _ := os.ReadFile(filepath.Join(wash.Dir(), "log.json")); string(after) != string(stored) {
					t.Fatal("log.json changed after an alarm")
				}
			}
		})
	}
}

func mustSent(t *testing.T, p *client.Party, id string) []byte {
	t.Helper()
	s, err := p.Sent(id)
	if err != nil {
		t.Fatal(err)
	}
	return s.Envelope
}

func TestLogOtherKeyRefused(t *testing.T) {
	w, wash, _ := pair(t)
	ctx := context.Background()
	origin := w.Dir.Descriptor.LogOrigin
	skey, vkey, err := tlog.GenerateLogKey(origin)
	if err != nil {
		t.Fatal(err)
	}

	// A checkpoint in log.json signed by another key is refused.
	signer, _ := note.NewSigner(skey)
	other, err := tlog.Sign(origin, 1, tlog.EmptyRoot(), signer)
	if err != nil {
		t.Fatal(err)
	}
	writeLog(t, wash, origin, other)
	if _, err := wash.SyncLog(ctx); err == nil || !strings.Contains(err.Error(), "not signed by log key") {
		t.Fatalf("checkpoint by another key in log.json: %v", err)
	}
	os.Remove(filepath.Join(wash.Dir(), "log.json"))

	// A device that pins another log key refuses the relay's checkpoints.
	var d map[string]any
	relayJSON := filepath.Join(wash.Dir(), "relay.json")
	b, _ := os.ReadFile(relayJSON)
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	d["log_key"] = vkey
	b, _ = json.Marshal(d)
	if err := os.WriteFile(relayJSON, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := client.Load(wash.Dir(), testrelay.Passphrase, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.SyncLog(ctx); err == nil || !strings.Contains(err.Error(), "not signed by log key") {
		t.Fatalf("relay checkpoint under another pinned key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(wash.Dir(), "log.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("log.json written after a refusal: %v", err)
	}
}
