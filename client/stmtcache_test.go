package client

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"modernc.org/sqlite"
)

func openKept(t *testing.T) (*sql.DB, *sql.Conn) {
	t.Helper()
	db := sql.OpenDB(&stmtConnector{dsn: "file:" + filepath.Join(t.TempDir(), "t.db"), drv: &sqlite.Driver{}})
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.ExecContext(context.Background(), `CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3)`); err != nil {
		t.Fatal(err)
	}
	return db, conn
}

func keptQueries(t *testing.T, conn *sql.Conn) []string {
	t.Helper()
	var qs []string
	err := conn.Raw(func(dc any) error {
		for q := range dc.(*stmtConn).stmts {
			qs = append(qs, q)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return qs
}

func TestKeptStatementsReused(t *testing.T) {
	_, conn := openKept(t)
	ctx := context.Background()
	const ins = `INSERT INTO t VALUES (?)`
	for i := range 10 {
		if _, err := conn.ExecContext(ctx, ins, 10+i); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM t WHERE x >= ?`, 10).Scan(&n); err != nil || n != 10 {
		t.Fatalf("count = %d, %v; want 10", n, err)
	}
	// The bindings of one use do not leak into the next.
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM t WHERE x >= ?`, 100).Scan(&n); err != nil || n != 0 {
		t.Fatalf("count = %d, %v; want 0", n, err)
	}
	got := keptQueries(t, conn)
	if len(got) != 2 {
		t.Fatalf("kept %q, want the insert and the count once each", got)
	}
	// A statement that does not prepare is reported, and not kept.
	if _, err := conn.ExecContext(ctx, `INSERT INTO nowhere VALUES (1)`); err == nil || !strings.Contains(err.Error(), "no such table") {
		t.Fatalf("insert into a missing table: %v", err)
	}
	if got := keptQueries(t, conn); len(got) != 2 {
		t.Fatalf("kept %q after a failed statement", got)
	}
}

// A statement whose rows are being read is not run again under them: the
// same query inside the loop gets a statement of its own.
func TestKeptStatementBusy(t *testing.T) {
	_, conn := openKept(t)
	ctx := context.Background()
	const q = `SELECT x FROM t ORDER BY x`
	read := func() []int {
		rows, err := conn.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var xs []int
		for rows.Next() {
			var x int
			if err := rows.Scan(&x); err != nil {
				t.Fatal(err)
			}
			xs = append(xs, x)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return xs
	}
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var outer []int
	for rows.Next() {
		var x int
		if err := rows.Scan(&x); err != nil {
			t.Fatal(err)
		}
		if outer = append(outer, x); len(outer) > 3 {
			break // the inner query restarted the outer one
		}
		if inner := read(); !reflect.DeepEqual(inner, []int{1, 2, 3}) {
			t.Fatalf("inner read %v", inner)
		}
	}
	rows.Close()
	if !reflect.DeepEqual(outer, []int{1, 2, 3}) {
		t.Fatalf("outer read %v: the inner query disturbed it", outer)
	}
	// Once the rows are closed the kept statement serves again.
	if xs := read(); !reflect.DeepEqual(xs, []int{1, 2, 3}) {
		t.Fatalf("read after close %v", xs)
	}
}
