package letter

import (
	"crypto/sha256"
	"hash"
	"sync"
)

func newPartHash() hash.Hash {
	h := sha256.New()
	h.Write([]byte(ContextPart + "\n"))
	return h
}

// asyncThreshold is the part size from which digests are computed on a
// second goroutine, so that hashing and age's encryption or decryption run
// on two cores at once.
const asyncThreshold = 1 << 20

// digester computes a part digest, on a second goroutine for large parts.
// Write copies its input, so callers may reuse their buffers.
type digester struct {
	h    hash.Hash
	ch   chan []byte
	done chan struct{}
	pool *sync.Pool
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func newDigester(size uint64) *digester {
	d := &digester{h: newPartHash()}
	if size >= asyncThreshold {
		d.ch, d.done, d.pool = make(chan []byte, 16), make(chan struct{}), &bufPool
		go func() {
			for b := range d.ch {
				d.h.Write(b)
				b = b[:0]
				d.pool.Put(&b)
			}
			close(d.done)
		}()
	}
	return d
}

func (d *digester) Write(p []byte) (int, error) {
	if d.ch == nil {
		return d.h.Write(p)
	}
	n := len(p)
	for len(p) > 0 {
		bp := d.pool.Get().(*[]byte)
		k := min(len(p), cap(*bp))
		d.ch <- append((*bp)[:0], p[:k]...)
		p = p[k:]
	}
	return n, nil
}

// Sum finishes the digest. The digester must not be written to afterwards.
func (d *digester) Sum() [32]byte {
	d.stop()
	return [32]byte(d.h.Sum(nil))
}

// stop ends the hashing goroutine, if any; it is safe to call again.
func (d *digester) stop() {
	if d.ch != nil {
		close(d.ch)
		<-d.done
		d.ch = nil
	}
}
