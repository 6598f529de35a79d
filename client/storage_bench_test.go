package client_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"brieftraeger/internal/testrelay"
	"brieftraeger/store"
)

// BenchmarkHeartbeatStorage sends heartbeats from washington to tehran,
// each received, noted and receipted as brief watch does it, and reports
// what one heartbeat adds to the relay's store (JetStream's storage of
// every stream, once the log has taken the heartbeat in), to the files
// of the store's folder, and to the two parties' folders. Heartbeats are letters that are kept, so these figures
// are the disk that a channel's light costs (docs/OPERATIONS.md).
func BenchmarkHeartbeatStorage(b *testing.B) {
	w := testrelay.Start(b, testrelay.Options{})
	wash, teh := w.Party("washington"), w.Party("tehran")
	w.Connect(wash, teh)
	ctx := context.Background()
	beat := func() {
		sent, err := wash.SendHeartbeat(ctx, "tehran", time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		rec, err := teh.Receive(ctx, sent.ID)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := teh.NoteHeartbeat(rec); err != nil {
			b.Fatal(err)
		}
		if _, err := wash.CollectReceipts(ctx); err != nil {
			b.Fatal(err)
		}
	}
	beat() // the first creates the folders and files that every later one appends to
	relay0, disk0 := storedBytes(b, w.Store), folderBytes(b, w.Dir.StoreDir())
	parties0 := folderBytes(b, wash.Dir()) + folderBytes(b, teh.Dir())
	b.ResetTimer()
	for range b.N {
		beat()
	}
	b.StopTimer()
	relay1, disk1 := storedBytes(b, w.Store), folderBytes(b, w.Dir.StoreDir())
	parties1 := folderBytes(b, wash.Dir()) + folderBytes(b, teh.Dir())
	b.ReportMetric(float64(relay1-relay0)/float64(b.N), "relay-B/heartbeat")
	b.ReportMetric(float64(disk1-disk0)/float64(b.N), "relay-files-B/heartbeat")
	b.ReportMetric(float64(parties1-parties0)/float64(b.N), "parties-B/heartbeat")
}

// storedBytes waits until the relay's log has taken in every record (its
// size stops growing) and returns the bytes that JetStream stores for the
// relay's account: every stream, object store and key-value bucket.
func storedBytes(b *testing.B, st *store.Store) int64 {
	b.Helper()
	testrelay.SettleLog(b, st)
	info, err := st.JetStream().AccountInfo(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return int64(info.Store)
}

// folderBytes is the total size of the files under dir.
func folderBytes(b *testing.B, dir string) int64 {
	b.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}
