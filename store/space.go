package store

// Room left on the disk, and what JetStream's refusals mean.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var (
	// ErrNoSpace means the store is out of room: JetStream refused a write
	// because its storage limit is reached or the disk is full. Nothing of
	// the refused write is stored. Classify returns it.
	ErrNoSpace = errors.New("store: out of storage space")
	// ErrUnavailable means the storage engine did not answer or is not
	// running (JetStream disabled, the connection lost, a timeout, the store
	// closing). Trying again later may succeed. Classify returns it.
	ErrUnavailable = errors.New("store: storage engine unavailable")
)

// JetStream error codes (nats-server's ErrorIdentifier values) that mean
// there is no room for a write.
const (
	jsAccountResourcesExceeded = 10002 // "resource limits exceeded for account"
	jsInsufficientResources    = 10023 // "insufficient resources": the server's store limit
	jsStorageResourcesExceeded = 10047 // "insufficient storage resources available"
	jsStreamStoreFailed        = 10077 // "{err}", the file store's own error
	jsNotEnabled               = 10076 // "JetStream not enabled"
	jsNotEnabledForAccount     = 10039 // "JetStream not enabled for account"
)

// Classify tells why a store call failed: ErrNoSpace, ErrUnavailable, or
// nil when err is neither (nil, ErrNotFound, a refusal of the input, a
// bug). It reads the whole error chain, JetStream's API errors included.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	var api *jetstream.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode {
		case jsAccountResourcesExceeded, jsInsufficientResources, jsStorageResourcesExceeded:
			return ErrNoSpace
		case jsStreamStoreFailed:
			// The file store's error, as text: a full disk, or a stream's
			// own byte limit (MaxBytes with DiscardNew).
			if outOfSpace(api.Description) || strings.Contains(api.Description, "maximum bytes exceeded") {
				return ErrNoSpace
			}
		case jsNotEnabled, jsNotEnabledForAccount:
			return ErrUnavailable
		}
	}
	switch {
	case errors.Is(err, ErrNoSpace), errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), outOfSpace(err.Error()):
		return ErrNoSpace
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrClosed),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrConnectionDraining), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return ErrUnavailable
	case api != nil && api.Code == 503:
		return ErrUnavailable
	}
	return nil
}

// outOfSpace reports whether an error text (which may have crossed the
// NATS wire as text) says that a disk is full.
func outOfSpace(msg string) bool {
	return strings.Contains(msg, "no space left") || strings.Contains(msg, "disk quota exceeded")
}

// Space is how much room the store has for new data.
type Space struct {
	// DiskFree is what the file system of the data folder has free for an
	// unprivileged process; DiskSize is its size.
	DiskFree, DiskSize uint64
	// EngineFree is what JetStream's own storage limit still allows. The
	// embedded server takes 75% of the disk space free when it starts
	// (plus 75% of what it holds already) as its limit, and refuses writes
	// beyond it.
	EngineFree uint64
}

// Free is the room for new data: the smaller of DiskFree and EngineFree.
func (sp Space) Free() uint64 { return min(sp.DiskFree, sp.EngineFree) }

// Space measures the room left. It asks the file system (statfs) and the
// embedded server; it reads nothing from the streams, so it is cheap, but
// not free: callers on a hot path cache it. A store on an external NATS
// server (Config.URL) cannot see that server's disk: Space then returns an
// error wrapping errors.ErrUnsupported. JetStream disabled gives
// ErrUnavailable.
func (s *Store) Space() (Space, error) {
	if s.ns == nil {
		return Space{}, fmt.Errorf("free space of an external nats server: %w", errors.ErrUnsupported)
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(s.cfg.Dir, &fs); err != nil {
		return Space{}, fmt.Errorf("failed to read free space of %s: %w", s.cfg.Dir, err)
	}
	sp := Space{DiskFree: fs.Bavail * uint64(fs.Bsize), DiskSize: fs.Blocks * uint64(fs.Bsize)}
	info, err := s.ns.Jsz(&server.JSzOptions{})
	if err != nil {
		return Space{}, fmt.Errorf("failed to read jetstream usage: %w", err)
	}
	if info.Disabled {
		return Space{}, fmt.Errorf("failed to read jetstream usage: jetstream is disabled: %w", ErrUnavailable)
	}
	if limit := info.Config.MaxStore; limit > 0 && uint64(limit) > info.Store {
		sp.EngineFree = uint64(limit) - info.Store
	}
	return sp, nil
}

// Server returns the embedded nats-server, or nil for a store on an
// external NATS server (Config.URL). Tests use it to stop the engine under
// a running relay.
func (s *Store) Server() *server.Server { return s.ns }
