package store

import (
	"context"
	"sync"
	"time"
)

// recentLetters is the size of a generation of the store's memories of
// letters committed and filed lately (recent.Map): a few seconds of posts
// at thousands a second, for the log's next rounds.
const recentLetters = 8192

// filingWait bounds how long Pending waits for the entries of letters
// already acknowledged to be filed.
const filingWait = 2 * time.Second

// filings tracks the mailbox entries this store is writing for letters
// already acknowledged, by recipient, so that a listing of a mailbox
// waits for the entries of the letters posted before it.
type filings struct {
	mu      sync.Mutex
	pending map[string]map[chan struct{}]struct{} // recipient -> one channel per entry, closed when filed
}

// start records an entry being filed for party, and returns the function
// that marks it filed.
func (f *filings) start(party string) func() {
	ch := make(chan struct{})
	f.mu.Lock()
	if f.pending == nil {
		f.pending = make(map[string]map[chan struct{}]struct{})
	}
	if f.pending[party] == nil {
		f.pending[party] = make(map[chan struct{}]struct{})
	}
	f.pending[party][ch] = struct{}{}
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		delete(f.pending[party], ch)
		if len(f.pending[party]) == 0 {
			delete(f.pending, party)
		}
		f.mu.Unlock()
		close(ch)
	}
}

// wait returns once every entry for party that was being filed when it
// was called is filed, or ctx ends.
func (f *filings) wait(ctx context.Context, party string) error {
	f.mu.Lock()
	chs := make([]chan struct{}, 0, len(f.pending[party]))
	for ch := range f.pending[party] {
		chs = append(chs, ch)
	}
	f.mu.Unlock()
	for _, ch := range chs {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
