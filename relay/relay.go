package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"brieftraeger/envelope"
	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/internal/deadline"
	"brieftraeger/internal/recent"
	"brieftraeger/store"
)

// DefaultMaxEnvelopeBytes is the largest ciphertext a relay accepts when
// Config.MaxEnvelopeBytes is zero: 2 GiB, room for a 1 GiB attachment
// after padding.
const DefaultMaxEnvelopeBytes = 2 << 30

// Config configures a relay. Name, ReceiptKey, AdminKey and Store are
// required; the rest have safe zero values.
type Config struct {
	Name       string             // relay name, the Party of posted receipts
	ReceiptKey ed25519.PrivateKey // signs posted receipts
	AdminKey   ed25519.PublicKey  // the operator's tools authenticate with it
	LogKey     ed25519.PrivateKey // signs the log's checkpoints
	Store      *store.Store

	MaxEnvelopeBytes int64              // default DefaultMaxEnvelopeBytes
	Deadlines        deadline.Deadlines // delivery deadlines shown to the operator; nil: after ACP 127
	LogInterval      time.Duration      // default DefaultLogInterval
	Now              func() time.Time   // default time.Now
	Logger           *slog.Logger       // default: discard

	// MinFreeBytes is the free space kept for delivery: a new envelope that
	// would leave less is refused with 507 storage_full, while receipts and
	// reads go on. 0: the smaller of DefaultMinFreeBytes and
	// DefaultMinFreePercent of the disk; negative: no reserve and no check
	// (JetStream's own limits still refuse what does not fit).
	MinFreeBytes int64

	// Invitations is who may open a channel by invitation (invite.go):
	// InvitationsAny (also ""), InvitationsApprove or InvitationsOff.
	Invitations string
}

// Relay serves the relay HTTP API over a store. It holds no state of its
// own beyond its configuration: everything lives in the store.
type Relay struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux

	rosterMu sync.Mutex
	rosters  map[string]*identity.Roster // parsed rosters, reused while the stored bytes match
	// posted holds the posted receipts signed lately, by letter id: the
	// answer to a post and the log's leaf are the same signed bytes.
	posted recent.Map[string, *envelope.Receipt]

	logs    *logKeeper
	stopLog func()
	logDone chan struct{}

	stopOnce sync.Once
	stop     chan struct{} // closed by StopStreams

	metrics *metrics    // served by GET /metrics
	space   *spaceGuard // refuses new envelopes when the disk is nearly full
	quorum  quorumWatch // on a cluster node: refuses writes without a quorum
}

// StopStreams ends every open event stream, so that a graceful shutdown
// need not wait for them; clients reconnect to another node or later.
func (r *Relay) StopStreams() { r.stopOnce.Do(func() { close(r.stop) }) }

// New checks cfg and returns a relay.
func New(cfg Config) (*Relay, error) {
	if err := identity.CheckName("relay", cfg.Name); err != nil {
		return nil, err
	}
	if len(cfg.ReceiptKey) != ed25519.PrivateKeySize || len(cfg.AdminKey) != ed25519.PublicKeySize ||
		len(cfg.LogKey) != ed25519.PrivateKeySize || cfg.Store == nil {
		return nil, errors.New("relay: config needs a receipt key, an admin key, a log key and a store")
	}
	if err := CheckInvitationPolicy(cfg.Invitations); err != nil {
		return nil, err
	}
	if cfg.LogInterval == 0 {
		cfg.LogInterval = DefaultLogInterval
	}
	if cfg.MaxEnvelopeBytes == 0 {
		cfg.MaxEnvelopeBytes = DefaultMaxEnvelopeBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Relay{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), stop: make(chan struct{}), rosters: map[string]*identity.Roster{},
		posted:  recent.Map[string, *envelope.Receipt]{Size: recentReceipts},
		metrics: newMetrics()}
	r.space = newSpaceGuard(cfg.Store, cfg.MinFreeBytes, cfg.Now, r.log)
	var err error
	if r.logs, err = newLogKeeper(context.Background(), cfg.Store, cfg.Name, cfg.LogKey, r.postedReceipt, r.log); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.stopLog = func() {
		cancel()
		<-r.logDone
	}
	r.logDone = make(chan struct{})
	go func() {
		defer close(r.logDone)
		go r.quorum.run(ctx, cfg.Store, r)
		r.logs.run(ctx, cfg.LogInterval)
	}()
	r.routes()
	return r, nil
}

// Close stops the event streams and the log's integration. Call it after
// the HTTP server has shut down and before the store is closed.
func (r *Relay) Close() {
	r.StopStreams()
	r.stopLog()
}

// Handler returns the relay's HTTP handler. It must be served over TLS
// with tlspin.ServerTLSConfig, which asks every client for a certificate.
func (r *Relay) Handler() http.Handler { return r.mux }

func (r *Relay) routes() {
	r.mux.HandleFunc("GET "+api.PathInfo, r.info)
	r.mux.HandleFunc("POST "+api.PathEnvelopes, r.device(r.postEnvelope))
	r.mux.HandleFunc("GET "+api.PathEnvelopes+"/{id}", r.device(r.getEnvelope))
	r.mux.HandleFunc("GET "+api.PathMailbox, r.device(r.mailbox))
	r.mux.HandleFunc("GET "+api.PathEvents, r.device(r.events))
	r.mux.HandleFunc("POST "+api.PathReceipts, r.device(r.postReceipt))
	r.mux.HandleFunc("GET "+api.PathReceipts, r.device(r.receipts))
	r.mux.HandleFunc("GET "+api.PathRosters+"{party}", r.device(r.getRoster))
	r.mux.HandleFunc("GET "+api.PathRosters+"{party}"+api.PathRosterChain, r.device(r.getRosterChain))
	r.mux.HandleFunc("PUT "+api.PathRosters+"{party}", r.device(r.putOwnRoster))
	r.mux.HandleFunc("PUT "+api.PathRosters+"{party}"+api.PathEpochs+"{n}", r.device(r.putEpoch))
	r.mux.HandleFunc("GET "+api.PathRosters+"{party}"+api.PathEpochs+"{n}", r.device(r.getEpoch))
	r.mux.HandleFunc("DELETE "+api.PathRosters+"{party}"+api.PathEpochs+"{n}", r.device(r.deleteEpoch))
	r.mux.HandleFunc("GET "+api.PathLogCheckpoint, r.logCheckpoint)
	r.mux.HandleFunc("GET "+api.PathLogProof, r.device(r.logProof))
	r.mux.HandleFunc("GET "+api.PathLogConsistency, r.device(r.logConsistency))
	r.mux.HandleFunc("GET "+api.PathLogLeaves, r.device(r.logLeaves))
	// The log in the C2SP tlog-tiles layout under the prefix /v1/log/,
	// readable by any TLS client: it holds hashes only.
	r.mux.HandleFunc("GET "+api.PathLogTiles+"{path...}", r.logTile)
	// Operations: probes for any TLS client; metrics name parties and
	// their traffic times, so only the operator's admin key reads them.
	r.mux.HandleFunc("GET /metrics", r.admin(r.serveMetrics))
	r.mux.HandleFunc("GET /healthz", r.healthz)
	r.mux.HandleFunc("GET /readyz", r.readyz)
	r.mux.HandleFunc("PUT "+api.PathParties+"/{party}", r.admin(r.putRoster))
	r.mux.HandleFunc("POST "+api.PathChannels, r.admin(r.openChannel))
	r.mux.HandleFunc("GET "+api.PathChannels, r.admin(r.listChannels))
	r.mux.HandleFunc("GET "+api.PathOverdue, r.admin(r.listOverdue))
	r.inviteRoutes()
}

func (r *Relay) info(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{
		"name":        r.cfg.Name,
		"receipt_key": identity.EncodePublicKey(r.cfg.ReceiptKey.Public().(ed25519.PublicKey)),
	})
}

// apiError is an error with the HTTP status and code to answer it with.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func fail(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func (r *Relay) writeError(w http.ResponseWriter, req *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = r.storeFailure(req, err)
	} else {
		r.log.Info("request refused", "path", req.URL.Path, "code", ae.code, "err", ae.msg)
	}
	r.metrics.refusal(ae.code)
	if ae.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	writeJSON(w, ae.status, api.Error{Code: ae.code, Message: ae.msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// roster returns the latest admitted roster of party, as the store read it
// within its roster cache time (store.CachedRoster): for the checks that
// every request makes.
func (r *Relay) roster(ctx context.Context, party string) (*identity.Roster, error) {
	return r.rosterFrom(ctx, party, r.cfg.Store.CachedRoster)
}

// currentRoster returns the latest admitted roster of party, read now.
func (r *Relay) currentRoster(ctx context.Context, party string) (*identity.Roster, error) {
	return r.rosterFrom(ctx, party, r.cfg.Store.Roster)
}

func (r *Relay) rosterFrom(ctx context.Context, party string, read func(context.Context, string) ([]byte, error)) (*identity.Roster, error) {
	if err := identity.CheckName("party", party); err != nil {
		return nil, fail(http.StatusBadRequest, api.CodeMalformed, "%v", err)
	}
	raw, err := read(ctx, party)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fail(http.StatusNotFound, api.CodeUnknownParty, "unknown party %q", party)
	} else if err != nil {
		return nil, err
	}
	r.rosterMu.Lock()
	cached := r.rosters[party]
	r.rosterMu.Unlock()
	if cached != nil && bytes.Equal(cached.Raw, raw) {
		return cached, nil
	}
	// Admitted rosters were verified against their predecessor when they
	// were stored; here only their form is checked again.
	ros, err := identity.DecodeRoster(raw)
	if err != nil {
		return nil, err
	}
	r.rosterMu.Lock()
	r.rosters[party] = ros
	r.rosterMu.Unlock()
	return ros, nil
}
