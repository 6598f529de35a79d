package client_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/identity"
	"brieftraeger/internal/testrelay"
)

const newPassphrase = "plum harbour seven lantern"

// keystoreFolder returns a party folder, closed, and its keys.age.
func keystoreFolder(t *testing.T) (dir string, sealed []byte) {
	w := testrelay.Start(t, testrelay.Options{})
	p := w.Party("washington")
	p.Close()
	sealed, err := os.ReadFile(filepath.Join(p.Dir(), "keys.age"))
	if err != nil {
		t.Fatal(err)
	}
	return p.Dir(), sealed
}

func TestChangePassphrase(t *testing.T) {
	dir, before := keystoreFolder(t)
	p, err := client.Load(dir, testrelay.Passphrase, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	root, device := p.Roster().Root, p.Device()
	p.Close()

	var synced []string
	defer client.WatchSyncDir(func(d string) {
		synced = append(synced, d)
		// keys.age is in place by the time its folder is synced.
		sealed, err := os.ReadFile(filepath.Join(dir, "keys.age"))
		if err != nil {
			t.Error(err)
		} else if _, err := identity.OpenKeystore(sealed, newPassphrase); err != nil {
			t.Errorf("keys.age at the folder's sync: %v", err)
		}
	})()
	wf, err := client.ChangePassphrase(dir, client.PassphraseChange{Old: testrelay.Passphrase, New: newPassphrase, WorkFactor: 11, AllowWeakWorkFactor: true})
	if err != nil || wf != 11 {
		t.Fatalf("ChangePassphrase: %d, %v", wf, err)
	}
	if len(synced) != 1 || synced[0] != dir {
		t.Errorf("synced %q, want the party folder once", synced)
	}
	if _, err := client.Load(dir, testrelay.Passphrase, client.Options{}); !errors.Is(err, identity.ErrWrongPassphrase) {
		t.Fatalf("old passphrase after the change: %v", err)
	}
	q, err := client.Load(dir, newPassphrase, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if !bytes.Equal(q.Roster().Root, root) || q.Device() != device || q.KeystoreWorkFactor() != 11 {
		t.Fatalf("after the change: device %s, work factor %d", q.Device(), q.KeystoreWorkFactor())
	}
	after, _ := os.ReadFile(filepath.Join(dir, "keys.age"))
	if bytes.Equal(after, before) {
		t.Fatal("keys.age unchanged")
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(tmp) > 0 {
		t.Fatalf("left behind: %q", tmp)
	}
}

// TestChangePassphraseRefused: every refusal leaves keys.age as it was.
func TestChangePassphraseRefused(t *testing.T) {
	dir, before := keystoreFolder(t)
	for _, c := range []struct {
		name   string
		change client.PassphraseChange
		want   error
	}{
		{"wrong old passphrase", client.PassphraseChange{Old: "not the passphrase", New: newPassphrase, WorkFactor: 10, AllowWeakWorkFactor: true}, identity.ErrWrongPassphrase},
		{"weak new passphrase", client.PassphraseChange{Old: testrelay.Passphrase, New: "hunter2", WorkFactor: 10, AllowWeakWorkFactor: true}, identity.ErrWeakPassphrase},
		{"common new passphrase", client.PassphraseChange{Old: testrelay.Passphrase, New: "correct horse battery staple", WorkFactor: 10, AllowWeakWorkFactor: true}, identity.ErrWeakPassphrase},
		{"work factor 13", client.PassphraseChange{Old: testrelay.Passphrase, New: newPassphrase, WorkFactor: 13}, identity.ErrWeakWorkFactor},
		{"work factor 9, even for tests", client.PassphraseChange{Old: testrelay.Passphrase, New: newPassphrase, WorkFactor: 9, AllowWeakWorkFactor: true}, identity.ErrWeakWorkFactor},
	} {
		if _, err := client.ChangePassphrase(dir, c.change); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if after, _ := os.ReadFile(filepath.Join(dir, "keys.age")); !bytes.Equal(after, before) {
			t.Fatalf("%s: keys.age changed", c.name)
		}
	}
	empty := t.TempDir()
	if _, err := client.ChangePassphrase(empty, client.PassphraseChange{Old: "x", New: newPassphrase}); !errors.Is(err, client.ErrNoParty) {
		t.Errorf("empty folder: %v", err)
	}
	if left, _ := os.ReadDir(empty); len(left) > 0 {
		t.Errorf("empty folder: left %v", left)
	}
}

// TestChangePassphraseDefaultWorkFactor: without a work factor, a keystore
// below identity.WarnWorkFactor is raised to the default.
func TestChangePassphraseDefaultWorkFactor(t *testing.T) {
	if testing.Short() {
		t.Skip("seals at work factor 18")
	}
	dir, _ := keystoreFolder(t)
	wf, err := client.ChangePassphrase(dir, client.PassphraseChange{Old: testrelay.Passphrase, New: newPassphrase})
	if err != nil || wf != identity.DefaultWorkFactor {
		t.Fatalf("ChangePassphrase: %d, %v", wf, err)
	}
}

// TestInitFloors: a new party or a new device refuses a passphrase or work
// factor below the floor, and writes nothing.
func TestInitFloors(t *testing.T) {
	w := testrelay.Start(t, testrelay.Options{})
	for _, c := range []struct {
		pass string
		wf   int
		want error
	}{
		{testrelay.Passphrase, 13, identity.ErrWeakWorkFactor},
		{testrelay.Passphrase, 9, nil}, // Seal's own range
		{"", 14, identity.ErrWeakPassphrase},
		{"Tr0ub4dor&3", 14, identity.ErrWeakPassphrase},
	} {
		dir := t.TempDir()
		_, err := client.Init(client.InitOptions{Dir: dir, Party: "w", Device: "d", Passphrase: c.pass, WorkFactor: c.wf, Relay: w.Descriptor()}, client.Options{})
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("passphrase %q, work factor %d: got %v, want %v", c.pass, c.wf, err, c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "keys.age")); err == nil {
			t.Errorf("passphrase %q, work factor %d: keys.age written", c.pass, c.wf)
		}
		_, err = client.StartJoin(client.JoinOptions{Dir: dir, Party: "w", Device: "d2", Passphrase: c.pass, WorkFactor: c.wf, Relay: w.Descriptor()})
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("join: passphrase %q, work factor %d: got %v, want %v", c.pass, c.wf, err, c.want)
		}
		if left, _ := os.ReadDir(dir); len(left) > 0 {
			t.Errorf("passphrase %q, work factor %d: left %v", c.pass, c.wf, left)
		}
	}
}

// TestChangePassphraseCrash kills a process changing a keystore's
// passphrase back and forth at random moments: after each kill, keys.age
// opens with one of the two passphrases and holds the same keys.
func TestChangePassphraseCrash(t *testing.T) {
	if dir := os.Getenv("BRIEF_TEST_RESEAL_DIR"); dir != "" {
		resealForever(dir)
		return
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir, _ := keystoreFolder(t)
	want, err := client.Load(dir, testrelay.Passphrase, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	root := want.Roster().Root
	want.Close()
	for i := range 20 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestChangePassphraseCrash$")
		cmd.Env = append(os.Environ(), "BRIEF_TEST_RESEAL_DIR="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20*time.Millisecond + rand.N(80*time.Millisecond))
		cmd.Process.Kill()
		cmd.Wait()
		sealed, err := os.ReadFile(filepath.Join(dir, "keys.age"))
		if err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		ks, err := identity.OpenKeystore(sealed, testrelay.Passphrase)
		if errors.Is(err, identity.ErrWrongPassphrase) {
			ks, err = identity.OpenKeystore(sealed, newPassphrase)
		}
		if err != nil {
			t.Fatalf("kill %d: keys.age opens with neither passphrase: %v", i, err)
		}
		if !bytes.Equal(ks.Root.Public().(ed25519.PublicKey), root) {
			t.Fatalf("kill %d: keys.age holds another root key", i)
		}
	}
}

// resealForever changes dir's passphrase from one of the test's two to the
// other, and back, until killed.
func resealForever(dir string) {
	pass := [2]string{testrelay.Passphrase, newPassphrase}
	for i := 0; ; i++ {
		c := client.PassphraseChange{Old: pass[i%2], New: pass[(i+1)%2], WorkFactor: 10, AllowWeakWorkFactor: true}
		if _, err := client.ChangePassphrase(dir, c); errors.Is(err, identity.ErrWrongPassphrase) {
			continue // the last run was killed after its rename
		} else if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
