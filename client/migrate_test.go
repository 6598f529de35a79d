package client

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// The party folders in testdata/folder-v0 were made by the code before
// records.db (commit 4f9caaa), through a real relay: washington sent three
// letters (the second withheld from tehran, a gap) and a heartbeat, tehran
// acknowledged the first and sent a reply, and both collected receipts.

// copyFolder copies testdata/folder-v0/NAME into a temporary folder.
func copyFolder(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join("testdata", "folder-v0", name)
	dst := filepath.Join(t.TempDir(), name)
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func loadV0(t *testing.T, dir string) *Party {
	t.Helper()
	p, err := Load(dir, "test", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// jsonFiles reads every file of the pattern under dir as JSON of type T,
// keyed by file name.
func jsonFiles[T any](t *testing.T, pattern string) map[string]*T {
	t.Helper()
	names, err := filepath.Glob(pattern)
	if err != nil || len(names) == 0 {
		t.Fatalf("no %s: %v", pattern, err)
	}
	out := map[string]*T{}
	for _, n := range names {
		var v T
		if err := readJSONFile(n, &v); err != nil {
			t.Fatal(err)
		}
		out[n] = &v
	}
	return out
}

// TestMigrateKeepsEverything loads the old folders: every record is in
// the database as it was in its file, the counters go on where they were,
// the files are moved aside, and a second Load changes nothing.
func TestMigrateKeepsEverything(t *testing.T) {
	washDir, tehDir := copyFolder(t, "washington"), copyFolder(t, "tehran")
	var washState, tehState state
	readJSONFile(filepath.Join(washDir, "state.json"), &washState)
	readJSONFile(filepath.Join(tehDir, "state.json"), &tehState)
	sentFiles := jsonFiles[SentLetter](t, filepath.Join(washDir, "sent", "*.json"))
	archived := jsonFiles[Received](t, filepath.Join(tehDir, "archive", "*", "letter.json"))

	wash, teh := loadV0(t, washDir), loadV0(t, tehDir)
	for name, want := range sentFiles {
		got, err := wash.Sent(want.ID)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got.Kind, want.Kind = "", ""
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("sent record %s:\n got %+v\nwant %+v", want.ID, got, want)
		}
		if _, err := os.Stat(filepath.Join(washDir, migratedDir, "sent", filepath.Base(name))); err != nil {
			t.Fatalf("the file of %s was not moved aside: %v", want.ID, err)
		}
	}
	for _, want := range archived {
		got, err := teh.Letter(want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Kind != KindLetter {
			t.Fatalf("received letter %s migrated as kind %q", want.ID, got.Kind)
		}
		got.Kind = ""
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("received record %s:\n got %+v\nwant %+v", want.ID, got, want)
		}
	}
	if gaps, err := teh.Gaps("washington"); err != nil || !slices.Equal(gaps, []uint64{2}) {
		t.Fatalf("gaps after migration: %v %v", gaps, err)
	}
	if n, err := wash.takeSeq("tehran"); err != nil || n != washState.NextSeq["tehran"] {
		t.Fatalf("next number to tehran: %d %v, want %d", n, err, washState.NextSeq["tehran"])
	}
	if after, err := receiptsAfter(teh.db); err != nil || after != tehState.ReceiptsAfter {
		t.Fatalf("receipt cursor: %d %v, want %d", after, err, tehState.ReceiptsAfter)
	}
	if list, err := teh.List(ListFilter{Search: "text proposal"}); err != nil || len(list) != 2 {
		t.Fatalf("search of the migrated bodies: %v %+v", err, list)
	}
	for _, gone := range []string{"state.json", "awaiting.json"} {
		if _, err := os.Stat(filepath.Join(washDir, gone)); !os.IsNotExist(err) {
			t.Fatalf("%s left in place: %v", gone, err)
		}
		if _, err := os.Stat(filepath.Join(washDir, migratedDir, gone)); err != nil {
			t.Fatalf("%s not kept in %s: %v", gone, migratedDir, err)
		}
	}

	// A second Load finds the records in place, and nothing to import.
	wash.Close()
	again := loadV0(t, washDir)
	ids, err := again.SentIDs()
	if err != nil || len(ids) != len(sentFiles) {
		t.Fatalf("after a second load: %v, %d letters, want %d", err, len(ids), len(sentFiles))
	}
}

// TestMigrateFailsWhole breaks one sent record: the Load fails, and the
// folder is left as it was, to be migrated once the record is mended.
func TestMigrateFailsWhole(t *testing.T) {
	dir := copyFolder(t, "washington")
	names, _ := filepath.Glob(filepath.Join(dir, "sent", "*.json"))
	good, err := os.ReadFile(names[0])
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(names[0], []byte("{not json"), 0o600)
	if _, err := Load(dir, "test", Options{}); err == nil {
		t.Fatal("a folder with a damaged record was migrated")
	}
	if _, err := os.Stat(filepath.Join(dir, "state.json")); err != nil {
		t.Fatalf("a failed migration moved state.json: %v", err)
	}
	os.WriteFile(names[0], good, 0o600)
	p := loadV0(t, dir)
	var s SentLetter
	json.Unmarshal(good, &s)
	if got, err := p.Sent(s.ID); err != nil || got.Subject != s.Subject {
		t.Fatalf("the mended record: %v %+v", err, got)
	}
}
