package client

// WatchSyncDir calls fn with each folder synced, before syncing it, until
// restore is called. Tests that use it must not run in parallel.
func WatchSyncDir(fn func(dir string)) (restore func()) {
	orig := syncDir
	syncDir = func(dir string) error { fn(dir); return orig(dir) }
	return func() { syncDir = orig }
}
