package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"brieftraeger/envelope"
	"brieftraeger/letter"
)

// loadChannels reads a JSON file of the party folder that maps each
// channel (the other party) to its record, such as heartbeats.json; a
// missing file is an empty map.
func loadChannels[T any](p *Party, file string) (map[string]*T, error) {
	m := map[string]*T{}
	err := readJSONFile(filepath.Join(p.dir, file), &m)
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if m == nil {
		m = map[string]*T{}
	}
	return m, err
}

// updateChannel changes the record of one channel in such a file under
// the folder lock, creating the record if there is none.
func updateChannel[T any](p *Party, file, party string, fn func(*T)) error {
	unlock, err := p.lock()
	if err != nil {
		return err
	}
	defer unlock()
	m, err := loadChannels[T](p, file)
	if err != nil {
		return err
	}
	c := m[party]
	if c == nil {
		c = new(T)
		m[party] = c
	}
	fn(c)
	if err := writeJSONFile(filepath.Join(p.dir, file), m); err != nil {
		return fmt.Errorf("failed to save %s: %w", file, err)
	}
	return nil
}

// maxSmallPart bounds a part that this device reads whole into memory: a
// heartbeat, a test letter or a log checkpoint, each well under 1 KiB.
// The other party chooses what it sends, so a larger one is refused
// unread.
const maxSmallPart = 64 << 10

// readSmallPart reads a part of an opened letter whole, if it is at most
// maxSmallPart bytes; what names the part in errors.
func (p *Party) readSmallPart(rec *Received, part ReceivedPart, what string) ([]byte, error) {
	data, err := readPartFile(p.LetterDir(rec.ID), part, what)
	if err != nil {
		return nil, fmt.Errorf("letter %s: %w", rec.ID, err)
	}
	return data, nil
}

// sendJSONPart sends a letter of the exact form of kind k (systemForms)
// whose JSON part is v: a heartbeat or a test letter. Its sent record
// carries the kind.
func (p *Party) sendJSONPart(ctx context.Context, to string, k Kind, v any) (*SentLetter, *envelope.Receipt, error) {
	f := formOf(k)
	// While letters wait in the channel's outbox, the relay is not taking
	// them: a heartbeat or test letter sealed now would only queue behind
	// them, stale by the time it goes, and take a number. The outbox is
	// retried on its own schedule (RetryOutbox), not by each heartbeat.
	if waiting, err := p.queued(to); err != nil {
		return nil, nil, err
	} else if len(waiting) > 0 {
		return nil, nil, fmt.Errorf("not sealed while %d letters wait in the outbox: %w", len(waiting), ErrOutboxWaiting)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, nil, err
	}
	part := letter.Attachment{Name: f.name, MediaType: f.mediaType, Size: int64(len(data)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
	return p.Send(ctx, Outgoing{To: to, Subject: f.subject, Precedence: envelope.Immediate,
		Body: []byte(f.body), Attachments: []letter.Attachment{part}, kind: k})
}

// appendBounded appends v to list and drops the oldest entries beyond n.
func appendBounded[T any](list []T, v T, n int) []T {
	list = append(list, v)
	if over := len(list) - n; over > 0 {
		list = slices.Delete(list, 0, over)
	}
	return list
}
