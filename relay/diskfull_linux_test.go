package relay_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"syscall"
	"testing"

	"brieftraeger/envelope"
	"brieftraeger/internal/api"
	"brieftraeger/internal/testrelay"
	"brieftraeger/store"
)

// smallDisk mounts a 64 MiB tmpfs in a temporary folder for the test, or
// skips the test where mounting is not permitted.
func smallDisk(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=64m,mode=0700"); err != nil {
		t.Skipf("skipping the full-disk test: mounting a 64 MiB tmpfs needs root (CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("failed to unmount the test's tmpfs at %s: %v", dir, err)
		}
	})
	return dir
}

// TestDiskFull fills a real small disk with letters, no reserve set, until
// JetStream refuses one. The refusal must be the clear one (507
// storage_full), store nothing, and every letter acknowledged before must
// read back whole after the store is closed and opened again.
func TestDiskFull(t *testing.T) {
	base := smallDisk(t)
	tw := testrelay.Start(t, testrelay.Options{Base: base, MinFreeBytes: -1})
	w := &world{World: tw, t: t}
	w.wash, w.teh = w.Party("washington"), w.Party("tehran")
	w.Connect(w.wash, w.teh)
	ks := w.Keys(w.wash)

	var acked []sealed
	for i := 0; ; i++ {
		body := make([]byte, 512<<10)
		rand.Read(body)
		s := seal(t, w.wash, ks, "tehran", body, nil)
		st, answer := w.postAs(ks, s.frame())
		if st == http.StatusCreated {
			acked = append(acked, s)
			continue
		}
		if st != http.StatusInsufficientStorage || code(t, answer) != api.CodeStorageFull {
			t.Fatalf("post %d on a full disk: got %d %s, want 507 %s", i, st, answer, api.CodeStorageFull)
		}
		t.Logf("refused after %d letters of 512 KiB", len(acked))
		break
	}
	if len(acked) < 10 {
		t.Fatalf("only %d letters fit on a 64 MiB disk", len(acked))
	}
	w.assertNothingStored(uint64(len(acked)))

	w.Stop()
	st, err := store.Open(context.Background(), store.Config{Dir: w.Dir.StoreDir(), BodyHash: envelope.NewDigest})
	if err != nil {
		t.Fatalf("reopening the full store: %v", err)
	}
	defer st.Close()
	for _, s := range acked {
		checkStored(t, st, s)
	}
	if n, err := st.MailCount(context.Background()); err != nil || n != uint64(len(acked)) {
		t.Fatalf("after reopening: %d letters (%v), want %d", n, err, len(acked))
	}
	if _, err := os.Stat(base); err != nil {
		t.Fatal(err)
	}
}

// checkStored reads letter s back from st and compares it with what was
// posted.
func checkStored(t *testing.T, st *store.Store, s sealed) {
	t.Helper()
	ctx := context.Background()
	got, err := st.Lookup(ctx, s.h.ID.String())
	if err != nil || !bytes.Equal(got.Header, s.h.Raw) {
		t.Fatalf("letter %s after reopening: %v", s.h.ID, err)
	}
	body, err := st.Body(ctx, got.ID)
	if err != nil {
		t.Fatalf("body of %s after reopening: %v", s.h.ID, err)
	}
	defer body.Close()
	ct, err := io.ReadAll(body)
	if err != nil || !bytes.Equal(ct, s.ct) {
		t.Fatalf("body of %s after reopening: %v, %d bytes of %d, equal %v", s.h.ID, err, len(ct), len(s.ct), bytes.Equal(ct, s.ct))
	}
}
