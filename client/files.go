package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// writeFile writes data to name atomically: a synced temporary file renamed
// over name, then the folder synced.
func writeFile(name string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes the entries of a folder durable. It is a variable so that
// tests can see which folders are synced, and in what order.
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// createTemp creates a file, or with dir a folder, in tmp/ and returns it
// open and locked; the lock, held until the caller closes it, keeps
// sweepTmp from removing the entry while it is in use, and sweepTmp
// leaves alone an entry younger than sweepAge, which may not be locked
// yet.
func (p *Party) createTemp(pattern string, dir bool) (f *os.File, err error) {
	tmp := filepath.Join(p.dir, "tmp")
	if dir {
		var name string
		if name, err = os.MkdirTemp(tmp, pattern); err == nil {
			f, err = os.Open(name)
		}
	} else {
		f, err = os.CreateTemp(tmp, pattern)
	}
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to lock %s: %w", f.Name(), err)
	}
	return f, nil
}

// sweepAge is how old an entry of tmp/ must be before sweepTmp may remove
// it: createTemp makes an entry and then locks it.
const sweepAge = time.Minute

// sweepTmp removes what interrupted operations left in tmp/: spooled
// ciphertext and the unverified plaintext of letters being opened. An
// entry that a running operation holds locked stays, and so does one
// younger than sweepAge.
func (p *Party) sweepTmp() error {
	tmp := filepath.Join(p.dir, "tmp")
	entries, err := os.ReadDir(tmp)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if info, err := e.Info(); err == nil && p.now().Sub(info.ModTime()) < sweepAge {
			continue // perhaps not locked yet
		}
		name := filepath.Join(tmp, e.Name())
		f, err := os.Open(name)
		if err == nil {
			if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
				f.Close()
				continue // in use
			}
			err = os.RemoveAll(name)
			f.Close()
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func writeJSONFile(name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(name, append(data, '\n'), 0o600)
}

func readJSONFile(name string, v any) error {
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("failed to parse %s: %w", filepath.Base(name), err)
	}
	return nil
}
