package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/mod/sumdb/note"

	"brieftraeger/envelope"
	"brieftraeger/internal/api"
	"brieftraeger/tlog"
)

// ErrNotLogged means the relay has not integrated a record into its log
// yet (it answered 404 for its inclusion proof).
var ErrNotLogged = errors.New("not in the relay's log yet")

// InconsistentLogError means the relay showed a checkpoint that cannot
// follow the one this device accepted before: a smaller tree (rollback), the
// same size with another root (split view), or a larger tree without a
// valid consistency proof. Both checkpoints are signed by the relay's log
// key, so together they are evidence. log.json is left unchanged.
type InconsistentLogError struct {
	Relay    string // the relay's name
	Accepted []byte // the checkpoint note kept in log.json
	Offered  []byte // the checkpoint note the relay showed
	Err      error  // wraps tlog.ErrRollback, tlog.ErrSplitView or tlog.ErrInconsistent
}

func (e *InconsistentLogError) Error() string {
	return fmt.Sprintf("ALARM: relay %s showed an inconsistent log: %v", e.Relay, e.Err)
}

func (e *InconsistentLogError) Unwrap() error { return e.Err }

// logState is log.json: the latest checkpoint accepted for the relay's log.
type logState struct {
	Origin     string `json:"origin"`
	Key        string `json:"key"`        // the log's verifier key, from the relay descriptor
	Checkpoint string `json:"checkpoint"` // the signed note as the relay served it
}

func (p *Party) logPath() string { return filepath.Join(p.dir, "log.json") }

// logVerifier returns the relay log's origin and its checkpoint verifier,
// from the relay descriptor.
func (p *Party) logVerifier() (string, note.Verifier, error) {
	if p.relay.LogOrigin == "" || p.relay.LogKey == "" {
		return "", nil, fmt.Errorf("relay %s publishes no log (its descriptor has no log_origin or log_key)", p.relay.Name)
	}
	v, err := note.NewVerifier(p.relay.LogKey)
	if err != nil {
		return "", nil, fmt.Errorf("relay descriptor: log key: %w", err)
	}
	return p.relay.LogOrigin, v, nil
}

// loadLog returns the accepted checkpoint from log.json, or nil if there
// is none yet.
func (p *Party) loadLog(origin string, v note.Verifier) (*tlog.Checkpoint, error) {
	var st logState
	err := readJSONFile(p.logPath(), &st)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if st.Origin != origin || st.Key != "" && st.Key != p.relay.LogKey {
		// The relay descriptor names another log (the party moved to
		// another relay, or the operator began a new log): start over.
		return nil, nil
	}
	cp, err := tlog.ParseCheckpoint([]byte(st.Checkpoint), origin, v)
	if err != nil {
		return nil, fmt.Errorf("log.json: %w", err)
	}
	return cp, nil
}

// LoggedCheckpoint returns the checkpoint of the relay's log this device
// accepted last, or nil if it has accepted none.
func (p *Party) LoggedCheckpoint() (*tlog.Checkpoint, error) {
	origin, v, err := p.logVerifier()
	if err != nil {
		return nil, err
	}
	cp, err := p.memo.get(p.logPath(), func() (any, error) { return p.loadLog(origin, v) })
	if err != nil || cp == nil {
		return nil, err
	}
	return cp.(*tlog.Checkpoint), nil
}

// SyncLog fetches the relay's latest checkpoint, checks its signature and
// origin and, if a checkpoint was accepted before, its consistency with
// that one, and keeps it in log.json. It returns the checkpoint now
// accepted. An inconsistent log is an *InconsistentLogError.
func (p *Party) SyncLog(ctx context.Context) (*tlog.Checkpoint, error) {
	return p.acceptLog(ctx, func(least uint64) ([]byte, error) {
		b, err := p.getBytes(ctx, api.PathLogCheckpoint+"?min="+strconv.FormatUint(least, 10), tlog.MaxCheckpointSize)
		if err != nil {
			return nil, fmt.Errorf("failed to fetch the log checkpoint: %w", err)
		}
		return b, nil
	})
}

// VerifyLogged checks that leafData is in the relay's log: it fetches the
// leaf's inclusion proof, accepts the checkpoint the proof is against as
// SyncLog does, and verifies the proof against it. It returns the leaf's
// index, or an error wrapping ErrNotLogged if the relay has not logged it
// yet.
func (p *Party) VerifyLogged(ctx context.Context, leafData []byte) (uint64, error) {
	i, _, _, err := p.verifyLogged(ctx, leafData)
	return i, err
}

// verifyLogged is VerifyLogged, returning also the verified proof and the
// checkpoint it is against.
func (p *Party) verifyLogged(ctx context.Context, leafData []byte) (uint64, [][32]byte, *tlog.Checkpoint, error) {
	if _, _, err := tlog.ParseLeaf(leafData); err != nil {
		return 0, nil, nil, err
	}
	var ans api.LogProof
	cp, err := p.acceptLog(ctx, func(least uint64) ([]byte, error) {
		ans = api.LogProof{}
		err := p.getJSON(ctx, api.PathLogProof+"?leaf="+hex.EncodeToString(leafData)+"&min="+strconv.FormatUint(least, 10), &ans)
		var re *RelayError
		if errors.As(err, &re) && re.Status == http.StatusNotFound {
			return nil, fmt.Errorf("leaf %x: %w", leafData, ErrNotLogged)
		} else if err != nil {
			return nil, fmt.Errorf("failed to fetch inclusion proof: %w", err)
		}
		return ans.Checkpoint, nil
	})
	if err != nil {
		return 0, nil, nil, err
	}
	proof, err := tlog.ParseProof(ans.Proof)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("inclusion proof from relay: %w", err)
	}
	if err := tlog.VerifyInclusion(leafData, ans.Index, cp.Size, cp.Root, proof); err != nil {
		return 0, nil, nil, fmt.Errorf("relay %s: %w", p.relay.Name, err)
	}
	return ans.Index, proof, cp, nil
}

// acceptLog gets a checkpoint note with fetch and accepts it against the
// one in log.json, with a consistency proof from the relay. The relay is
// asked without holding the folder lock; log.json is then written under
// it, and only if no other process changed it meanwhile (else it starts
// over).
func (p *Party) acceptLog(ctx context.Context, fetch func(least uint64) ([]byte, error)) (*tlog.Checkpoint, error) {
	origin, v, err := p.logVerifier()
	if err != nil {
		return nil, err
	}
	for range 5 {
		old, err := p.loadLog(origin, v)
		if err != nil {
			return nil, err
		}
		var least uint64
		if old != nil {
			least = old.Size // a relay node that lags behind waits or answers 503
		}
		msg, err := fetch(least)
		if err != nil {
			return nil, err
		}
		cp, err := tlog.ParseCheckpoint(msg, origin, v)
		if err != nil {
			return nil, fmt.Errorf("relay %s: %w", p.relay.Name, err)
		}
		var consistency [][32]byte
		if old != nil && old.Size > 0 && cp.Size > old.Size {
			if consistency, err = p.proveConsistency(ctx, old, cp); err != nil {
				return nil, err
			}
		}
		w := tlog.NewWitness(origin)
		if old != nil {
			if err := w.Accept(old, nil); err != nil {
				return nil, err
			}
		}
		if err := w.Accept(cp, consistency); err != nil {
			if errors.Is(err, tlog.ErrRollback) || errors.Is(err, tlog.ErrSplitView) || errors.Is(err, tlog.ErrInconsistent) {
				return nil, &InconsistentLogError{Relay: p.relay.Name, Accepted: old.Note, Offered: cp.Note, Err: err}
			}
			return nil, err
		}
		if old != nil && cp.Size == old.Size {
			return old, nil // nothing new to keep
		}
		done, err := p.saveLog(old, cp, origin, v)
		if err != nil || done {
			return cp, err
		}
	}
	return nil, errors.New("log.json kept changing while the relay's log was checked; try again")
}

// saveLog writes cp to log.json under the folder lock if log.json still
// holds old. It reports false, writing nothing, if it does not.
func (p *Party) saveLog(old, cp *tlog.Checkpoint, origin string, v note.Verifier) (bool, error) {
	unlock, err := p.lock()
	if err != nil {
		return false, err
	}
	defer unlock()
	cur, err := p.loadLog(origin, v)
	if err != nil {
		return false, err
	}
	if (cur == nil) != (old == nil) || cur != nil && !bytes.Equal(cur.Note, old.Note) {
		return false, nil
	}
	if err := writeJSONFile(p.logPath(), logState{Origin: origin, Key: p.relay.LogKey, Checkpoint: string(cp.Note)}); err != nil {
		return false, fmt.Errorf("failed to save log.json: %w", err)
	}
	return true, nil
}

// proveConsistency asks the relay for the consistency proof between two
// checkpoints it signed. A relay that answers with a refusal, rather than
// a proof, cannot show the two consistent: that is an alarm, not an
// ordinary error (a network failure stays one).
func (p *Party) proveConsistency(ctx context.Context, older, newer *tlog.Checkpoint) ([][32]byte, error) {
	proof, err := p.fetchConsistency(ctx, older.Size, newer.Size)
	var refused *RelayError
	if errors.As(err, &refused) && refused.Status != http.StatusServiceUnavailable {
		return nil, &InconsistentLogError{Relay: p.relay.Name, Accepted: older.Note, Offered: newer.Note,
			Err: fmt.Errorf("%w: the relay refused to prove size %d consistent with size %d: %v", tlog.ErrInconsistent, older.Size, newer.Size, err)}
	}
	return proof, err
}

// fetchConsistency asks the relay for the consistency proof from tree size
// m to n.
func (p *Party) fetchConsistency(ctx context.Context, m, n uint64) ([][32]byte, error) {
	var ans api.LogProof
	path := api.PathLogConsistency + "?from=" + strconv.FormatUint(m, 10) + "&to=" + strconv.FormatUint(n, 10)
	if err := p.getJSON(ctx, path, &ans); err != nil {
		return nil, fmt.Errorf("failed to fetch consistency proof from %d to %d: %w", m, n, err)
	}
	proof, err := tlog.ParseProof(ans.Proof)
	if err != nil {
		return nil, fmt.Errorf("consistency proof from relay: %w", err)
	}
	return proof, nil
}

// LoggedRecord says whether one record of a sent letter is in the log.
type LoggedRecord struct {
	Record string `json:"record"` // envelope, posted, delivered or acknowledged
	Logged bool   `json:"logged"` // its inclusion proof verified
	Index  uint64 `json:"index"`  // its leaf index, if logged
}

// LoggedReport is VerifySentLogged's answer for one sent letter.
type LoggedReport struct {
	ID      string         `json:"id"`
	Records []LoggedRecord `json:"records"`
}

// AllLogged reports whether every record of the letter is logged.
func (r LoggedReport) AllLogged() bool {
	for _, rec := range r.Records {
		if !rec.Logged {
			return false
		}
	}
	return true
}

// VerifySentLogged checks that the envelope and every receipt recorded
// with sent letter id are in the relay's log, each with a verified
// inclusion proof. A record the relay has not logged yet is reported as
// not logged, not as an error.
func (p *Party) VerifySentLogged(ctx context.Context, id string) (LoggedReport, error) {
	rep := LoggedReport{ID: id}
	sent, err := p.Sent(id)
	if err != nil {
		return rep, err
	}
	check := func(name string, leaf []byte) error {
		i, err := p.VerifyLogged(ctx, leaf)
		if errors.Is(err, ErrNotLogged) {
			rep.Records = append(rep.Records, LoggedRecord{Record: name})
			return nil
		} else if err != nil {
			return fmt.Errorf("letter %s: %s: %w", id, name, err)
		}
		rep.Records = append(rep.Records, LoggedRecord{Record: name, Logged: true, Index: i})
		return nil
	}
	if err := check("envelope", tlog.LeafData(tlog.KindEnvelope, sent.Envelope)); err != nil {
		return rep, err
	}
	for _, raw := range sent.Receipts {
		name := "receipt"
		if rc, err := envelope.ParseReceipt(raw); err == nil {
			name = rc.Kind.String()
		}
		if err := check(name, tlog.LeafData(tlog.KindReceipt, raw)); err != nil {
			return rep, err
		}
	}
	return rep, nil
}
