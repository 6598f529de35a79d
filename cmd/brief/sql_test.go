package main

import (
	"database/sql"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	_ "modernc.org/sqlite"
)

// cmdSQLExec runs one SQL statement on a party folder's records.db: a
// script's stand-in for a device that lost or altered its records.
//
//	sqlexec DIR STATEMENT
func cmdSQLExec(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: sqlexec DIR STATEMENT")
	}
	db := openRecords(ts, args[0])
	defer db.Close()
	_, err := db.Exec(args[1])
	ts.Check(err)
}

// cmdWaitRecord waits up to 30 s until a party folder's records hold an
// opened letter.
//
//	waitrecord DIR ID
func cmdWaitRecord(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitrecord DIR ID")
	}
	db := openRecords(ts, args[0])
	defer db.Close()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var n int
		if db.QueryRow(`SELECT count(*) FROM letters WHERE box = 'received' AND id = ?`, args[1]).Scan(&n) == nil && n > 0 {
			return
		}
	}
	ts.Fatalf("letter %s was not opened in %s within 30 s", args[1], args[0])
}

// openRecords opens the records.db of the party folder dir.
func openRecords(ts *testscript.TestScript, dir string) *sql.DB {
	db, err := sql.Open("sqlite", "file:"+ts.MkAbs(dir)+"/records.db?_pragma=busy_timeout(10000)")
	ts.Check(err)
	return db
}
