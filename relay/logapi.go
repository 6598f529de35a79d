package relay

import (
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"

	"brieftraeger/internal/api"
	"brieftraeger/tlog"
)

// logCheckpoint serves the latest checkpoint to any TLS client, as C2SP
// tlog-tiles has it at <prefix>/checkpoint: the view of the caller's party
// if it names itself as a device, else the relay's. With ?min=N it answers
// a checkpoint of at least N leaves (see logAtLeast).
func (r *Relay) logCheckpoint(w http.ResponseWriter, req *http.Request) {
	party := ""
	if c, err := r.authenticate(req.Context(), req); err == nil {
		party = c.party
	}
	if err := r.logAtLeast(req, 0); err != nil {
		r.writeError(w, req, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(r.logs.latest(party))
}

// logProof answers the inclusion proof of a leaf, given as hex leaf data,
// against the latest checkpoint (of at least ?min=N leaves).
func (r *Relay) logProof(w http.ResponseWriter, req *http.Request, c *caller) error {
	if err := r.logAtLeast(req, 0); err != nil {
		return err
	}
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

// logTile serves the log's hash tiles and entry bundles in the C2SP
// tlog-tiles layout (the checkpoint is at /v1/log/checkpoint).
func (r *Relay) logTile(w http.ResponseWriter, req *http.Request) {
	entries, level, n, width, err := tlog.ParseTilePath("tile/" + req.PathValue("path"))
	if err != nil {
		r.writeError(w, req, fail(http.StatusBadRequest, api.CodeMalformed, "%v", err))
		return
	}
	data, err := r.logs.tile(entries, level, n, width)
	if err != nil {
		r.writeError(w, req, fail(http.StatusNotFound, api.CodeNotFound, "no such tile"))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if width == tlog.TileWidth {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	}
	w.Write(data)
}

// logLeaves answers the leaf data of a range of leaves, for auditors.
func (r *Relay) logLeaves(w http.ResponseWriter, req *http.Request, c *caller) error {
	start, err1 := strconv.ParseUint(req.URL.Query().Get("start"), 10, 64)
	count, err2 := strconv.ParseUint(req.URL.Query().Get("count"), 10, 64)
	if err1 != nil || err2 != nil || count == 0 {
		return fail(http.StatusBadRequest, api.CodeMalformed, "start and count must be numbers, count at least 1")
	}
	if err := r.logAtLeast(req, 0); err != nil {
		return err
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
	if err := r.logAtLeast(req, to); err != nil {
		return err
	}
	p, err := r.logs.consistency(c.party, from, to)
	if err != nil {
		return fail(http.StatusBadRequest, api.CodeMalformed, "%v", err)
	}
	writeJSON(w, http.StatusOK, api.LogProof{Proof: tlog.MarshalProof(p)})
	return nil
}

// logAtLeast waits until this node's log has at least size leaves, or the
// ?min=N of the request if that is more. On a cluster every node derives
// the log from the same replicated leaf sequence, but a node may follow a
// few milliseconds behind the one that integrates; a client that saw a
// checkpoint from one node asks the next for at least that size, and so
// never sees the log shrink. A node that does not reach the size in time
// answers 503, which clients take as "try again", not as evidence.
func (r *Relay) logAtLeast(req *http.Request, size uint64) error {
	if m := req.URL.Query().Get("min"); m != "" {
		n, err := strconv.ParseUint(m, 10, 64)
		if err != nil {
			return fail(http.StatusBadRequest, api.CodeMalformed, "min must be a tree size")
		}
		size = max(size, n)
	}
	if !r.logs.catchUp(req.Context(), size) {
		return fail(http.StatusServiceUnavailable, api.CodeUnavailable, "this relay node's log has not reached %d leaves yet; try again", size)
	}
	return nil
}
