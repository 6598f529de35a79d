package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"brieftraeger/envelope"
	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/store"
)

func entry(s store.Stored) api.MailboxEntry {
	return api.MailboxEntry{ID: s.ID, From: s.From, Precedence: envelope.Precedence(s.Precedence).String(),
		Size: uint64(s.BodySize), Seq: s.Seq, PostedAt: s.Time.UnixMilli()}
}

// mailbox lists the envelopes waiting for the caller's party, most urgent
// first.
func (r *Relay) mailbox(w http.ResponseWriter, req *http.Request, c *caller) error {
	pending, err := r.cfg.Store.Pending(req.Context(), c.party)
	if err != nil {
		return err
	}
	out := make([]api.MailboxEntry, 0, len(pending))
	for _, s := range pending {
		out = append(out, entry(s))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getEnvelope streams an envelope (framed header, then ciphertext) to its
// recipient party or back to its sender party.
func (r *Relay) getEnvelope(w http.ResponseWriter, req *http.Request, c *caller) error {
	id := req.PathValue("id")
	if _, err := envelope.ParseID(id); err != nil {
		return fail(http.StatusBadRequest, api.CodeMalformed, "%v", err)
	}
	s, body, err := r.cfg.Store.Letter(req.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return fail(http.StatusNotFound, api.CodeNotFound, "no letter %s", id)
	} else if err != nil {
		return err
	}
	defer body.Close()
	if s.To != c.party && s.From != c.party {
		return fail(http.StatusNotFound, api.CodeNotFound, "no letter %s for %q", s.ID, c.party)
	}
	h, err := envelope.Parse(s.Header)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(int64(2+len(h.Raw))+s.BodySize, 10))
	if err := envelope.WriteHeader(w, h); err != nil {
		return nil // the client went away
	}
	io.Copy(w, body)
	return nil
}

func (r *Relay) lookup(req *http.Request, id string) (store.Stored, error) {
	if _, err := envelope.ParseID(id); err != nil {
		return store.Stored{}, fail(http.StatusBadRequest, api.CodeMalformed, "%v", err)
	}
	s, err := r.cfg.Store.Lookup(req.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return s, fail(http.StatusNotFound, api.CodeNotFound, "no letter %s", id)
	}
	return s, err
}

// postReceipt files a delivered or acknowledged receipt, signed by a device
// of the letter's recipient party, for the sender to collect.
func (r *Relay) postReceipt(w http.ResponseWriter, req *http.Request, c *caller) error {
	raw, err := io.ReadAll(io.LimitReader(req.Body, envelope.MaxReceiptLen+1))
	if err != nil {
		return fail(http.StatusBadRequest, api.CodeMalformed, "failed to read receipt: %v", err)
	}
	rc, err := envelope.ParseReceipt(raw)
	if err != nil {
		return fail(http.StatusBadRequest, api.CodeMalformed, "%v", err)
	}
	if rc.Kind != envelope.Delivered && rc.Kind != envelope.Acknowledged {
		return fail(http.StatusBadRequest, api.CodeMalformed, "a device may only file delivered and acknowledged receipts")
	}
	if err := r.quorum.admit(); err != nil {
		return err
	}
	if rc.Party != c.party || rc.Signer != c.device.Name {
		return fail(http.StatusForbidden, api.CodeForbidden, "receipt is signed as %s/%s but the connection is %s/%s", rc.Party, rc.Signer, c.party, c.device.Name)
	}
	if err := rc.Verify(c.device.Key); err != nil {
		return fail(http.StatusBadRequest, api.CodeBadSignature, "%v", err)
	}
	s, err := r.lookup(req, rc.ID.String())
	if err != nil {
		return err
	}
	if s.To != c.party {
		return fail(http.StatusForbidden, api.CodeForbidden, "letter %s is not addressed to %q", s.ID, c.party)
	}
	if rc.Kind == envelope.Acknowledged && !s.Delivered {
		return fail(http.StatusConflict, api.CodeConflict, "letter %s has no delivered receipt yet; send it first", s.ID)
	}
	if rc.Envelope != identity.Hash(envelope.ContextEnvelopeHash, s.Header) {
		return fail(http.StatusBadRequest, api.CodeMalformed, "receipt names another envelope than letter %s", s.ID)
	}
	stored, err := r.cfg.Store.PutReceipt(req.Context(), s.ID, s.From, uint8(rc.Kind), rc.Raw)
	if errors.Is(err, store.ErrDuplicate) {
		writeJSON(w, http.StatusOK, api.ReceiptEntry{Seq: stored.Seq, Receipt: stored.Receipt})
		return nil
	} else if err != nil {
		return err
	}
	r.metrics.receiptFiled(rc.Kind, s.Precedence, s.Time, r.cfg.Now())
	r.log.Info("receipt filed", "id", s.ID, "kind", rc.Kind.String(), "by", c.party+"/"+c.device.Name)
	writeJSON(w, http.StatusCreated, api.ReceiptEntry{Seq: stored.Seq, Receipt: stored.Receipt})
	return nil
}

// receipts lists the receipts filed for letters the caller's party sent.
func (r *Relay) receipts(w http.ResponseWriter, req *http.Request, c *caller) error {
	after, err := strconv.ParseUint(req.URL.Query().Get("after"), 10, 64)
	if err != nil && req.URL.Query().Has("after") {
		return fail(http.StatusBadRequest, api.CodeMalformed, "after must be a sequence number")
	}
	list, err := r.cfg.Store.Receipts(req.Context(), c.party, after)
	if err != nil {
		return err
	}
	out := make([]api.ReceiptEntry, 0, len(list))
	for _, s := range list {
		out = append(out, api.ReceiptEntry{Seq: s.Seq, Receipt: s.Receipt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (r *Relay) getRoster(w http.ResponseWriter, req *http.Request, _ *caller) error {
	ros, err := r.currentRoster(req.Context(), req.PathValue("party"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(ros.Raw)
	return nil
}

// getRosterChain answers every admitted version of a party's roster,
// oldest first, as a JSON list of base64 strings. Each version was checked
// against the one before when it was admitted, so the list is the chain a
// client verifies from the root key it pinned.
func (r *Relay) getRosterChain(w http.ResponseWriter, req *http.Request, _ *caller) error {
	party := req.PathValue("party")
	if err := identity.CheckName("party", party); err != nil {
		return fail(http.StatusBadRequest, api.CodeMalformed, "%v", err)
	}
	chain, err := r.cfg.Store.RosterHistory(req.Context(), party)
	if errors.Is(err, store.ErrNotFound) {
		return fail(http.StatusNotFound, api.CodeUnknownParty, "unknown party %q", party)
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, chain)
	return nil
}

// events pushes each envelope posted to the caller's party as a
// server-sent event named "envelope" whose data is a MailboxEntry, with
// the envelope itself if it is small (eventEntry). A comment line every
// 15 seconds keeps the connection open.
func (r *Relay) events(w http.ResponseWriter, req *http.Request, c *caller) error {
	ch, cancel, err := r.cfg.Store.Watch(c.party)
	if err != nil {
		return err
	}
	defer cancel()
	defer r.metrics.openStream()()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": brieftraeger events\n\n")
	rc.Flush()
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-req.Context().Done():
			return nil
		case <-r.stop:
			return nil
		case <-tick.C:
			fmt.Fprint(w, ": keepalive\n\n")
		case s, ok := <-ch:
			if !ok {
				return nil
			}
			data, _ := json.Marshal(r.eventEntry(s))
			fmt.Fprintf(w, "event: envelope\ndata: %s\n\n", data)
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}

// eventEntry is s's mailbox entry for an event. It carries the envelope
// itself if the ciphertext is at most api.EventEnvelopeLimit bytes and
// this node stored it lately and still holds it in memory (store.Recent);
// otherwise the device fetches it. Nothing is read for an event, so that
// a slow store cannot hold up the events after it.
func (r *Relay) eventEntry(s store.Stored) api.MailboxEntry {
	e := entry(s)
	if s.BodySize > api.EventEnvelopeLimit {
		return e
	}
	st, body, ok := r.cfg.Store.Recent(s.ID)
	if !ok {
		return e
	}
	h, err := envelope.Parse(st.Header)
	if err != nil {
		r.log.Error("a stored envelope header does not parse", "id", s.ID, "err", err)
		return e
	}
	var buf bytes.Buffer
	buf.Grow(2 + len(h.Raw) + len(body))
	if err := envelope.WriteHeader(&buf, h); err != nil {
		return e
	}
	buf.Write(body)
	e.Envelope = buf.Bytes()
	return e
}
