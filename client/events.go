package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"brieftraeger/internal/api"
)

// Events holds a server-sent event stream open and calls fn for each
// envelope posted to this party, until ctx is done, the stream ends, or fn
// returns an error. Ready, if not nil, is called once the stream is open,
// so that a caller can check the mailbox without missing an envelope.
func (p *Party) Events(ctx context.Context, ready func(), fn func(api.MailboxEntry) error) error {
	resp, err := p.do(ctx, http.MethodGet, api.PathEvents, nil, 0)
	if err != nil {
		return fmt.Errorf("failed to open event stream: %w", err)
	}
	defer resp.Body.Close()
	if ready != nil {
		ready()
	}
	err = readEvents(resp.Body, fn)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// maxEventLine bounds one line of the event stream.
const maxEventLine = 64 << 10

// readEvents parses a server-sent event stream and calls fn with each
// "envelope" event's data. Other events and comments are skipped.
func readEvents(r io.Reader, fn func(api.MailboxEntry) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxEventLine)
	var event string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "envelope":
			var e api.MailboxEntry
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e); err != nil {
				return fmt.Errorf("bad event from relay: %w", err)
			}
			if err := fn(e); err != nil {
				return err
			}
		case line == "":
			event = ""
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("event stream broke: %w", err)
	}
	return nil
}
