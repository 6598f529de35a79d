package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The reading lock. Two processes that read letters from the relay at
// once into one folder would both fetch and open each letter (the records
// keep one, but the work and the output are doubled), so 'brief read',
// 'brief read --follow' and 'brief watch' take locks/read for as long as
// they read, and write into it who they are. Acknowledging, sending and
// listing take no such lock: each of their changes is one transaction.

// ReaderBusyError says that another process holds the reading lock.
type ReaderBusyError struct {
	PID     int    // 0 if it could not be read
	Command string // as the holder named itself: "brief watch", "brief read"
}

func (e *ReaderBusyError) Error() string {
	if e.PID == 0 {
		return "another process is reading letters into this folder"
	}
	return fmt.Sprintf("%s (process %d) is reading letters into this folder", e.Command, e.PID)
}

// LockReading takes the reading lock for command, a name for people
// ("brief watch"). If another process holds it, a *ReaderBusyError says
// which; LockReading returns it unless wait, if not nil, says to wait for
// that holder (it is called once per holder), and then waits until the
// lock is free or ctx ends. It returns the lock's release.
func (p *Party) LockReading(ctx context.Context, command string, wait func(*ReaderBusyError) bool) (func(), error) {
	path := filepath.Join(p.dir, "locks", "read")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to open the reading lock: %w", err)
	}
	var waitingFor *ReaderBusyError
	unnamed := 0 // looks at a holder with no name yet
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("failed to take the reading lock: %w", err)
		}
		busy := readHolder(path)
		// A holder that has just taken the lock may not have written its
		// name yet, or one letting it go has wiped it (PID 0): look again
		// shortly, for up to two seconds.
		if busy.PID == 0 && unnamed < 20 {
			unnamed++
		} else if waitingFor == nil || busy.PID != 0 && *busy != *waitingFor {
			if wait == nil || !wait(busy) {
				f.Close()
				return nil, busy
			}
			waitingFor = busy
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\t"+command+"\n"), 0)
	return func() { f.Truncate(0); f.Close() }, nil
}

// readHolder returns who holds the reading lock, as it wrote it.
func readHolder(path string) *ReaderBusyError {
	b, _ := os.ReadFile(path)
	pid, command, _ := strings.Cut(strings.TrimSpace(string(b)), "\t")
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		return &ReaderBusyError{} // not a holder's name: none yet, or damaged
	}
	return &ReaderBusyError{PID: n, Command: command}
}
