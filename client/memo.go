package client

import (
	"os"
	"sync"
	"syscall"
	"time"
)

// fileMemo remembers a value derived from a file for as long as the file
// is the same one (inode, size and modification time), so that what every
// send reads (the recipient's verified roster chain, the accepted log
// checkpoint) is not read, parsed and verified again each time. Files of
// the party folder are replaced by rename (writeFile), which gives a new
// inode. The zero value is ready; it is safe for concurrent use.
type fileMemo struct {
	mu sync.Mutex
	m  map[string]memoEntry
}

type memoEntry struct {
	ino  uint64
	size int64
	mod  time.Time
	v    any
}

// get returns the value load derives from the file at path, remembered if
// the file has not changed since. A value is remembered only if load
// succeeds.
func (m *fileMemo) get(path string, load func() (any, error)) (any, error) {
	st, err := os.Stat(path)
	if err != nil {
		return load()
	}
	key := memoEntry{size: st.Size(), mod: st.ModTime()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		key.ino = sys.Ino
	}
	m.mu.Lock()
	e, ok := m.m[path]
	m.mu.Unlock()
	if ok && e.ino == key.ino && e.size == key.size && e.mod.Equal(key.mod) {
		return e.v, nil
	}
	v, err := load()
	if err != nil {
		return nil, err
	}
	key.v = v
	m.mu.Lock()
	if m.m == nil {
		m.m = map[string]memoEntry{}
	}
	m.m[path] = key
	m.mu.Unlock()
	return v, nil
}
