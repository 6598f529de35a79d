package client

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// Writes to records.db. The writers of this process take turns on
// Party.writing: SQLite makes a writer that finds the database locked
// sleep and try again, which costs milliseconds, so that is left to
// writers in other processes.
//
// A durable commit waits for an fsync, the slowest step of a send. So
// durable transactions are committed in groups: each caller queues its
// work, and whoever next holds the turn runs all the work queued, each
// piece in a savepoint of its own, and commits them with one fsync. A
// piece that fails is rolled back to its savepoint alone and its caller
// gets its error; the others are committed.

// groupCommit is the queue of durable work waiting for a commit.
type groupCommit struct {
	mu      sync.Mutex
	pending []*txWork
}

// txWork is one caller's piece of a group commit.
type txWork struct {
	fn   func(tx *sql.Tx) error
	done chan error // receives the piece's outcome once, buffered
}

// inTx runs fn in one write transaction of the records database: all of
// fn's changes are committed, or none if fn fails.
func (p *Party) inTx(fn func(tx *sql.Tx) error) error {
	p.writing.Lock()
	defer p.writing.Unlock()
	w := &txWork{fn: fn, done: make(chan error, 1)}
	if err := runGroup(p.db, []*txWork{w}); err != nil {
		return err
	}
	return <-w.done
}

// inDurableTx is inTx for a commit that is on disk (fsynced) when it
// returns. Concurrent callers share one commit.
func (p *Party) inDurableTx(fn func(tx *sql.Tx) error) error {
	w := &txWork{fn: fn, done: make(chan error, 1)}
	p.group.mu.Lock()
	p.group.pending = append(p.group.pending, w)
	p.group.mu.Unlock()
	p.writing.Lock()
	select {
	case err := <-w.done: // committed by the holder before us
		p.writing.Unlock()
		return err
	default:
	}
	p.group.mu.Lock()
	batch := p.group.pending
	p.group.pending = nil
	p.group.mu.Unlock()
	err := runGroup(p.durable, batch)
	p.writing.Unlock()
	if err != nil {
		return err
	}
	return <-w.done
}

// runGroup runs each piece of work in a savepoint of one transaction of
// db and commits, and sends each piece its outcome. The error is one that
// stopped the whole group; each piece has been sent it too.
func runGroup(db *sql.DB, work []*txWork) error {
	fail := func(err error) error {
		for _, w := range work {
			if len(w.done) == 0 {
				w.done <- err
			}
		}
		return err
	}
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		return fail(fmt.Errorf("failed to begin a transaction of %s: %w", recordsFile, err))
	}
	defer tx.Rollback()
	if len(work) == 1 {
		if err := work[0].fn(tx); err != nil {
			work[0].done <- err
			return nil
		}
	} else {
		outcome := make([]error, len(work))
		for i, w := range work {
			if outcome[i], err = inSavepoint(tx, w.fn); err != nil {
				return fail(err)
			}
		}
		for i, w := range work {
			if outcome[i] != nil {
				w.done <- outcome[i]
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(fmt.Errorf("failed to commit to %s: %w", recordsFile, err))
	}
	return fail(nil) // the pieces not failed: committed
}

// inSavepoint runs fn in a savepoint of tx and rolls back to it if fn
// fails; fnErr is fn's error, err one that leaves tx unusable.
func inSavepoint(tx *sql.Tx, fn func(tx *sql.Tx) error) (fnErr, err error) {
	if _, err := tx.Exec(`SAVEPOINT piece`); err != nil {
		return nil, err
	}
	fnErr = fn(tx)
	if fnErr != nil {
		if _, err := tx.Exec(`ROLLBACK TO piece`); err != nil {
			return fnErr, errors.Join(fnErr, err)
		}
	}
	_, err = tx.Exec(`RELEASE piece`)
	return fnErr, err
}
