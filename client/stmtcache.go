package client

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"

	"modernc.org/sqlite"
)

// SQLite spends a good part of a send parsing the same few statements
// again. The records database is therefore opened through a connector
// that keeps each connection's prepared statements, by their text, and
// runs a query or exec through the kept statement. A statement whose rows
// are still being read is not run again: a second use meanwhile (a query
// inside a loop over another's rows) gets a statement of its own.

// maxCachedStmts bounds the statements kept per connection: the client
// runs a fixed set of queries, well under this.
const maxCachedStmts = 256

// stmtConnector opens connections of the SQLite driver that keep their
// prepared statements.
type stmtConnector struct {
	dsn string
	drv *sqlite.Driver
}

func (c *stmtConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &stmtConn{conn: conn.(sqliteConn), stmts: map[string]*keptStmt{}}, nil
}

func (c *stmtConnector) Driver() driver.Driver { return c.drv }

// sqliteConn is what the SQLite driver's connection implements and
// database/sql uses.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// stmtConn is one connection and its kept statements. database/sql uses a
// connection from one goroutine at a time.
type stmtConn struct {
	conn  sqliteConn
	stmts map[string]*keptStmt
}

// keptStmt is a prepared statement and whether its rows are being read.
type keptStmt struct {
	stmt interface {
		driver.StmtExecContext
		driver.StmtQueryContext
		Close() error
	}
	busy bool
}

// kept returns the kept statement for query, preparing and keeping it if
// need be, or nil if it is in use or not kept: a script of several
// statements (the schema) runs once and is not kept.
func (c *stmtConn) kept(ctx context.Context, query string) *keptStmt {
	if strings.Contains(query, ";") {
		return nil
	}
	if k, ok := c.stmts[query]; ok {
		if k.busy {
			return nil
		}
		return k
	}
	if len(c.stmts) >= maxCachedStmts {
		return nil
	}
	st, err := c.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil // run the usual way, which reports the error
	}
	k := &keptStmt{}
	var ok bool
	if k.stmt, ok = st.(interface {
		driver.StmtExecContext
		driver.StmtQueryContext
		Close() error
	}); !ok {
		st.Close()
		return nil
	}
	c.stmts[query] = k
	return k
}

func (c *stmtConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	k := c.kept(ctx, query)
	if k == nil {
		return c.conn.ExecContext(ctx, query, args)
	}
	k.busy = true
	defer func() { k.busy = false }()
	return k.stmt.ExecContext(ctx, args)
}

func (c *stmtConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	k := c.kept(ctx, query)
	if k == nil {
		return c.conn.QueryContext(ctx, query, args)
	}
	rows, err := k.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	k.busy = true
	return &keptRows{Rows: rows, k: k}, nil
}

// keptRows frees its statement for the next use when closed.
type keptRows struct {
	driver.Rows
	k *keptStmt
}

func (r *keptRows) Close() error {
	err := r.Rows.Close()
	r.k.busy = false
	return err
}

// Close closes the kept statements, then the connection.
func (c *stmtConn) Close() error {
	var errs []error
	for q, k := range c.stmts {
		errs = append(errs, k.stmt.Close())
		delete(c.stmts, q)
	}
	return errors.Join(append(errs, c.conn.Close())...)
}

func (c *stmtConn) Prepare(query string) (driver.Stmt, error) { return c.conn.Prepare(query) }
func (c *stmtConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.conn.PrepareContext(ctx, query)
}
func (c *stmtConn) Begin() (driver.Tx, error) {
	return c.conn.BeginTx(context.Background(), driver.TxOptions{})
}
func (c *stmtConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.conn.BeginTx(ctx, opts)
}
func (c *stmtConn) Ping(ctx context.Context) error         { return c.conn.Ping(ctx) }
func (c *stmtConn) ResetSession(ctx context.Context) error { return c.conn.ResetSession(ctx) }
func (c *stmtConn) IsValid() bool                          { return c.conn.IsValid() }
