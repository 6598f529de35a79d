// Package recent is a bounded memory of recent values by key, for caches
// that may forget: it keeps two generations of up to a fixed number of
// entries each, and drops the older generation when the newer one fills.
package recent

import "sync"

// Map remembers up to 2*Size recently put values. Its zero value holds
// nothing and uses DefaultSize. It is safe for concurrent use.
type Map[K comparable, V any] struct {
	Size int // entries per generation; DefaultSize when zero

	mu        sync.Mutex
	cur, prev map[K]V
}

// DefaultSize is Map.Size when zero.
const DefaultSize = 1 << 16

// Put remembers v for k.
func (m *Map[K, V]) Put(k K, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	size := m.Size
	if size <= 0 {
		size = DefaultSize
	}
	if m.cur == nil || len(m.cur) >= size {
		m.prev, m.cur = m.cur, make(map[K]V)
	}
	m.cur[k] = v
}

// Get returns the value remembered for k, if it is still remembered.
func (m *Map[K, V]) Get(k K) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.cur[k]; ok {
		return v, true
	}
	v, ok := m.prev[k]
	return v, ok
}
