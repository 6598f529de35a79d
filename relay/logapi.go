package relay

import (
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"

	"brieftraeger/internal/api"
	"brieftraeger/tlog"
)

func (r *Relay) logCheckpoint(w http.ResponseWriter, _ *http.Request, c *caller) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(r.logs.latest(c.party))
	return nil
}

// logProof answers the inclusion proof of a leaf, given as hex leaf data,
// against the latest checkpoint.
func (r *Relay) logProof(w http.ResponseWriter, req *http.Request, c *caller) error {
	leaf, err := hex.DecodeString(req.URL.Query().Get("leaf"))
	if err != nil {
		return fail(http.StatusBadRequest, api.CodeMalformed, "leaf must be hex")
	}
	if _, _, err := tlog.ParseLeaf(leaf); err != nil {
		return fail(http.StatusBadRequest, api.CodeMalformed, "%v", err)
	}
	cp, index, p, err := r.logs.proof(c.party, leaf)
	if errors.Is(err, errNotLogged) {
		return fail(http.StatusNotFound, api.CodeNotFound, "leaf %x is %v", leaf, err)
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.LogProof{Checkpoint: cp, Index: index, Proof: tlog.MarshalProof(p)})
	return nil
}

// logLeaves answers the leaf data of a range of leaves, for auditors.
func (r *Relay) logLeaves(w http.ResponseWriter, req *http.Request, c *caller) error {
	start, err1 := strconv.ParseUint(req.URL.Query().Get("start"), 10, 64)
	count, err2 := strconv.ParseUint(req.URL.Query().Get("count"), 10, 64)
	if err1 != nil || err2 != nil || count == 0 {
		return fail(http.StatusBadRequest, api.CodeMalformed, "start and count must be numbers, count at least 1")
	}
	writeJSON(w, http.StatusOK, api.LogLeaves{Start: start, Leaves: r.logs.leaves(c.party, start, min(count, api.MaxLogLeaves))})
	return nil
}

// logConsistency answers the proof that the log at size from is a prefix
// of the log at size to.
func (r *Relay) logConsistency(w http.ResponseWriter, req *http.Request, c *caller) error {
	from, err1 := strconv.ParseUint(req.URL.Query().Get("from"), 10, 64)
	to, err2 := strconv.ParseUint(req.URL.Query().Get("to"), 10, 64)
	if err1 != nil || err2 != nil || from > to {
		return fail(http.StatusBadRequest, api.CodeMalformed, "from and to must be tree sizes with from <= to")
	}
	p, err := r.logs.consistency(c.party, from, to)
	if err != nil {
		return fail(http.StatusBadRequest, api.CodeMalformed, "%v", err)
	}
	writeJSON(w, http.StatusOK, api.LogProof{Proof: tlog.MarshalProof(p)})
	return nil
}
