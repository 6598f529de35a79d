package client

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"brieftraeger/identity"
)

// A party folder keeps every version of its own roster it has followed,
// as rosters/1, rosters/2, …, and the newest also as roster (the file an
// operator admits). A folder made before rosters/ existed holds only
// roster, at serial 1.

// writeRosterFiles writes chain, whose last version has serial newest,
// into dir's rosters/ and the last version as roster.
func writeRosterFiles(dir string, chain [][]byte, newest uint64) error {
	first := newest - uint64(len(chain)) + 1
	for i, raw := range chain {
		name := filepath.Join(dir, "rosters", strconv.FormatUint(first+uint64(i), 10))
		if err := writeFile(name, raw, 0o600); err != nil {
			return fmt.Errorf("failed to keep roster %d: %w", first+uint64(i), err)
		}
	}
	if err := writeFile(filepath.Join(dir, "roster"), chain[len(chain)-1], 0o600); err != nil {
		return fmt.Errorf("failed to keep roster %d: %w", newest, err)
	}
	return nil
}

// loadOwnRoster verifies the party's roster chain kept in dir from the
// root named by its first version and returns the newest version.
func loadOwnRoster(dir string) (*identity.Roster, error) {
	chain, err := readOwnChain(dir)
	if err != nil {
		return nil, err
	}
	var root ed25519.PublicKey
	if r, err := identity.DecodeRoster(chain[0]); err == nil {
		root = r.Root
	}
	ros, err := identity.VerifyChain(root, chain)
	if err != nil {
		return nil, fmt.Errorf("own roster: %w", err)
	}
	return ros, nil
}

// readOwnChain returns the versions of the party's roster that the folder
// dir keeps, oldest first, unverified.
func readOwnChain(dir string) ([][]byte, error) {
	var chain [][]byte
	for n := 1; ; n++ {
		raw, err := os.ReadFile(filepath.Join(dir, "rosters", strconv.Itoa(n)))
		if errors.Is(err, os.ErrNotExist) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("failed to read roster %d: %w", n, err)
		}
		chain = append(chain, raw)
	}
	if len(chain) == 0 {
		raw, err := os.ReadFile(filepath.Join(dir, "roster"))
		if err != nil {
			return nil, fmt.Errorf("failed to read roster: %w", err)
		}
		chain = [][]byte{raw}
	}
	return chain, nil
}
