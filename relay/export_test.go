package relay

// EquivocateTo makes r show party another history of its log from now on:
// the leaves to come pass through alter before they enter that party's
// view, and that view gets checkpoints of its own, signed with the real log
// key. It plays a relay that equivocates; only tests can reach it.
func EquivocateTo(r *Relay, party string, alter func(leaf []byte) []byte) {
	k := r.logs
	k.mu.Lock()
	defer k.mu.Unlock()
	f := newLogView(alter)
	for _, leaf := range k.main.data {
		f.append(leaf)
	}
	if k.forks == nil {
		k.forks = map[string]*logView{}
	}
	k.forks[party] = f
	if err := k.sign(); err != nil {
		panic(err)
	}
}

// PauseLog holds off or resumes r's log integration. Benchmarks use it to
// measure what the log costs.
func PauseLog(r *Relay, paused bool) { r.logs.paused.Store(paused) }

// SetMinFreeBytes changes r's reserve of free space (Config.MinFreeBytes)
// while it runs.
func SetMinFreeBytes(r *Relay, n int64) { r.space.minFree.Store(n) }
