package client

import (
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"modernc.org/sqlite"
)

// The party folder in testdata/folder-v5 was made by the code before the
// numbers received were kept per device (records.db schema version 5,
// commit 2124e84), through a real relay: washington's one device,
// dev-washington, sent three letters to tehran, and tehran opened the
// first and the third (a gap at 2).

// copyV5 copies testdata/folder-v5/tehran into a temporary folder.
func copyV5(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "tehran")
	if err := os.CopyFS(dst, os.DirFS(filepath.Join("testdata", "folder-v5", "tehran"))); err != nil {
		t.Fatal(err)
	}
	return dst
}

// rawDB opens a folder's records.db without preparing its schema, as
// the code before the change would find it.
func rawDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db := sql.OpenDB(&stmtConnector{dsn: "file:" + filepath.Join(dir, recordsFile), drv: &sqlite.Driver{}})
	t.Cleanup(func() { db.Close() })
	return db
}

// receivedNumbers returns every row of received_numbers as
// "party/device": set.
func receivedNumbers(t *testing.T, p *Party) map[string]seqSet {
	t.Helper()
	out := map[string]seqSet{}
	rows, err := p.db.Query(`SELECT party, device FROM received_numbers`)
	if err != nil {
		t.Fatal(err)
	}
	var keys [][2]string
	for rows.Next() {
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	rows.Close()
	for _, k := range keys {
		set, err := receivedSet(p.db, k[0], k[1])
		if err != nil {
			t.Fatal(err)
		}
		out[k[0]+"/"+k[1]] = *set
	}
	return out
}

func oldTableGone(t *testing.T, p *Party) {
	t.Helper()
	var n, version int
	if err := p.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'received_seqs'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("received_seqs is still there: %d %v", n, err)
	}
	if err := p.db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil || version != schemaUserVersion {
		t.Fatalf("user_version %d %v, want %d", version, err, schemaUserVersion)
	}
}

// TestMigrateSeqsToDevice loads a records.db that kept the numbers
// received per party: they move to the device that sent them, the gap is
// reported naming it, a number received is still refused from it, and a
// second Load changes nothing.
func TestMigrateSeqsToDevice(t *testing.T) {
	dir := copyV5(t)
	teh := loadV0(t, dir)
	oldTableGone(t, teh)
	want := map[string]seqSet{"washington/dev-washington": {Through: 1, Above: []uint64{3}}}
	if got := receivedNumbers(t, teh); !reflect.DeepEqual(got, want) {
		t.Fatalf("numbers received after the migration: %+v, want %+v", got, want)
	}
	gaps, err := teh.GapReport("")
	if err != nil || len(gaps) != 1 || !slices.Equal(gaps[0].Lines(), []string{"letter 2 from washington/dev-washington has not arrived; 3 has"}) {
		t.Fatalf("gaps after the migration: %+v %v", gaps, err)
	}
	if n, err := teh.Gaps("washington/dev-washington"); err != nil || !slices.Equal(n, []uint64{2}) {
		t.Fatalf("gaps of dev-washington: %v %v", n, err)
	}
	if n, err := teh.Gaps("washington/other"); err != nil || len(n) != 0 {
		t.Fatalf("gaps of a device that sent nothing: %v %v", n, err)
	}
	teh.Close()
	again := loadV0(t, dir)
	if got := receivedNumbers(t, again); !reflect.DeepEqual(got, want) {
		t.Fatalf("numbers received after a second load: %+v, want %+v", got, want)
	}
}

// TestMigrateSeqsSeveralDevices: should the records of a party's letters
// name two devices (letters a second device sent before this version),
// each device gets the numbers of its own letters, and neither shows a
// gap that the other's numbers made.
func TestMigrateSeqsSeveralDevices(t *testing.T) {
	dir := copyV5(t)
	db := rawDB(t, dir)
	if _, err := db.Exec(`UPDATE letters SET record = json_set(record, '$.device', 'dev-other') WHERE box = 'received' AND seq = 3`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	teh := loadV0(t, dir)
	oldTableGone(t, teh)
	want := map[string]seqSet{"washington/dev-washington": {Through: 1}, "washington/dev-other": {Above: []uint64{3}}}
	if got := receivedNumbers(t, teh); !reflect.DeepEqual(got, want) {
		t.Fatalf("numbers received after the migration: %+v, want %+v", got, want)
	}
}

// TestMigrateJSONSeqsToDevice: the numbers of a folder from before
// records.db (state.json) go to the device its archived letters name.
func TestMigrateJSONSeqsToDevice(t *testing.T) {
	teh := loadV0(t, copyFolder(t, "tehran"))
	gaps, err := teh.GapReport("washington")
	if err != nil || len(gaps) != 1 || gaps[0].Device != "dev-washington" || gaps[0].First != 2 || gaps[0].Last != 2 {
		t.Fatalf("gaps after the migration: %+v %v", gaps, err)
	}
}
