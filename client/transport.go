package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"brieftraeger/internal/api"
)

// RelayError is a refusal from the relay, with its stable code.
type RelayError struct {
	Status  int
	Code    string
	Message string
}

func (e *RelayError) Error() string {
	return fmt.Sprintf("relay refused: %s (%s)", e.Message, e.Code)
}

// ErrUnreachable matches (errors.Is) an *UnreachableError.
var ErrUnreachable = errors.New("relay unreachable")

// UnreachableError is a request that no relay node answered: the
// connection to each of URLs failed or timed out. Err is the last failure.
type UnreachableError struct {
	URLs []string
	Err  error
}

func (e *UnreachableError) Error() string        { return fmt.Sprintf("failed to reach relay: %v", e.Err) }
func (e *UnreachableError) Unwrap() error        { return e.Err }
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

// unreachable reports whether err, from sending a request, means the node
// did not answer: a failed connection, a timeout, a connection cut. A
// refused certificate is an answer.
func unreachable(err error) bool {
	var op *net.OpError
	var ne net.Error
	return errors.As(err, &op) && op.Op != "remote error" || errors.As(err, &ne) && ne.Timeout() ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// do sends a request to the relay as this device and returns the response
// if its status is 2xx, or a *RelayError. body, if not nil, opens the
// request body; it is called again for each node the request goes to.
func (p *Party) do(ctx context.Context, method, path string, body func() (io.Reader, error), size int64) (*http.Response, error) {
	return p.nodes.do(ctx, method, path, body, size, func(h http.Header) {
		h.Set(api.HeaderParty, p.keys.Party)
		h.Set(api.HeaderDevice, p.keys.Device)
	})
}

// relayNodes sends requests to a relay that may be several nodes (the
// descriptor's URLs), failing over between them. It remembers the node
// that answered last.
type relayNodes struct {
	urls []string // the descriptor's URL first
	http *http.Client
	last atomic.Int32 // index in urls of the node that answered last
	log  *slog.Logger
}

// newRelayNodes returns the nodes of the relay that descriptor d names,
// reached with TLS configuration conf: the descriptor's URL first, then
// the other URLs in their order.
func newRelayNodes(d api.Descriptor, conf *tls.Config, log *slog.Logger) *relayNodes {
	urls := []string{d.URL}
	for _, u := range d.URLs {
		if u != d.URL {
			urls = append(urls, u)
		}
	}
	// A node that does not answer a connection in dialTimeout is taken
	// for down, and the request goes to the next node. A node that takes
	// responseTimeout to begin its answer, once the request is sent, is
	// taken for hung, and the request goes on too.
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true,
		DialContext: dialer.DialContext, TLSHandshakeTimeout: dialTimeout, ResponseHeaderTimeout: responseTimeout}}
	return &relayNodes{urls: urls, http: hc, log: log}
}

// dialTimeout bounds connecting to one relay node; responseTimeout the wait
// for a node to begin answering a request it has received. A relay holds
// a post for at most its store's 30-second commit timeout, and answers the
// event stream at once.
const (
	dialTimeout     = 3 * time.Second
	responseTimeout = 45 * time.Second
)

// do sends a request with the headers hdr sets, and returns the response
// if its status is 2xx, or a *RelayError.
//
// The request goes first to the node that answered last; if that node
// cannot be reached, or answers 503, it goes on to the next, until every
// node was tried; if all failed so, it tries them all again for a while
// (failoverWait). Every request of the API is idempotent (a repost
// answers the same receipt), so sending one again to another node is
// safe; every try after the first carries api.HeaderRetry.
func (n *relayNodes) do(ctx context.Context, method, path string, body func() (io.Reader, error), size int64, hdr func(http.Header)) (*http.Response, error) {
	deadline := time.Now().Add(failoverWait)
	tries := 0
	withRetry := func(h http.Header) {
		if hdr != nil {
			hdr(h)
		}
		if tries++; tries > 1 {
			h.Set(api.HeaderRetry, "1")
		}
	}
	for pause := failoverPause; ; pause = min(2*pause, time.Second) {
		resp, again, err := n.tryAll(ctx, method, path, body, size, withRetry)
		if !again || len(n.urls) == 1 || time.Now().Add(pause).After(deadline) {
			return resp, err
		}
		// Every node failed or said "not now": a cluster may be electing
		// a new leader. Try them all again shortly.
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(pause):
		}
	}
}

// Riding out a cluster's failover: when every node of a relay failed or
// answered 503, do tries them all again after failoverPause (doubling, up
// to a second between passes) until failoverWait has passed.
const (
	failoverPause = 250 * time.Millisecond
	failoverWait  = 15 * time.Second
)

// tryAll sends the request to each node once, from the one that answered
// last, and stops at the first answer that is not "try the next node".
// again reports that every node failed that way; err is then the last
// failure.
func (n *relayNodes) tryAll(ctx context.Context, method, path string, body func() (io.Reader, error), size int64, hdr func(http.Header)) (resp *http.Response, again bool, err error) {
	first := int(n.last.Load()) % len(n.urls)
	var down []string // the nodes that did not answer
	for i := range n.urls {
		k := (first + i) % len(n.urls)
		var r io.Reader
		if body != nil {
			if r, err = body(); err != nil {
				return nil, false, err
			}
		}
		resp, err = doRequest(ctx, n.http, n.urls[k], method, path, r, size, hdr)
		if !tryNextNode(ctx, err) {
			if err == nil {
				n.last.Store(int32(k))
			}
			return resp, false, err
		}
		if len(n.urls) > 1 {
			n.log.Debug("relay node failed, trying the next", "url", n.urls[k], "err", err)
		}
		if errors.Is(err, ErrUnreachable) {
			down = append(down, n.urls[k])
		}
	}
	if ue := (*UnreachableError)(nil); len(down) == len(n.urls) && errors.As(err, &ue) {
		ue.URLs = down
	}
	return nil, true, err
}

// tryNextNode reports whether a request that failed with err should go to
// another relay node: the node could not be reached or said it cannot
// serve now (503). A refusal is the relay's answer, and stands.
func tryNextNode(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var re *RelayError
	if errors.As(err, &re) {
		return re.Status == http.StatusServiceUnavailable
	}
	return true
}

// bodyOf returns a body opener for a request body held in memory.
func bodyOf(b []byte) func() (io.Reader, error) {
	return func() (io.Reader, error) { return bytes.NewReader(b), nil }
}

func doRequest(ctx context.Context, c *http.Client, base, method, path string, body io.Reader, size int64, hdr func(http.Header)) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
	}
	if hdr != nil {
		hdr(req.Header)
	}
	resp, err := c.Do(req)
	if err != nil && ctx.Err() == nil && unreachable(err) {
		return nil, &UnreachableError{URLs: []string{base}, Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("failed to reach relay: %w", err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e api.Error
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e); err != nil || e.Code == "" {
		return nil, &RelayError{Status: resp.StatusCode, Code: "http", Message: resp.Status}
	}
	return nil, &RelayError{Status: resp.StatusCode, Code: e.Code, Message: e.Message}
}

// getJSON fetches path and decodes its JSON answer into v.
func (p *Party) getJSON(ctx context.Context, path string, v any) error {
	resp, err := p.do(ctx, http.MethodGet, path, nil, 0)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v); err != nil {
		return fmt.Errorf("bad answer from relay: %w", err)
	}
	return nil
}

// getBytes fetches path and returns at most limit bytes of its answer.
func (p *Party) getBytes(ctx context.Context, path string, limit int64) ([]byte, error) {
	resp, err := p.do(ctx, http.MethodGet, path, nil, 0)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read answer from relay: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, errors.New("answer from relay too long")
	}
	return b, nil
}
