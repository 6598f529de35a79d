package relay

import (
	"bytes"
	"errors"
	"net/http"

	"brieftraeger/envelope"
	"brieftraeger/internal/api"
	"brieftraeger/store"
)

// postEnvelope accepts an envelope: it checks everything it can see,
// streams the ciphertext into the store, which makes it durable, and only
// then answers with a signed posted receipt. Any refusal leaves nothing
// stored.
func (r *Relay) postEnvelope(w http.ResponseWriter, req *http.Request, c *caller) error {
	h, err := envelope.ReadHeader(req.Body)
	if err != nil {
		return fail(http.StatusBadRequest, api.CodeMalformed, "%v", err)
	}
	if err := checkSender(c, h); err != nil {
		return err
	}
	if err := r.quorum.admit(); err != nil {
		return err
	}
	if err := r.space.admit(h.Size); err != nil {
		// A repost of a stored envelope still gets its receipt.
		if prior, lerr := r.cfg.Store.Lookup(req.Context(), h.ID.String()); lerr == nil {
			return r.answerRepost(w, h, prior)
		}
		return err
	}
	if err := r.checkEnvelope(req, h); err != nil {
		// A repost of a stored envelope gets its original receipt, even
		// if the recipient's epoch has expired or its roster changed since.
		if prior, lerr := r.cfg.Store.Lookup(req.Context(), h.ID.String()); lerr == nil {
			return r.answerRepost(w, h, prior)
		}
		return err
	}
	// Post answers a repost of an envelope that passes the checks with
	// ErrDuplicate and the original (an inline body is read first).
	stored, err := r.cfg.Store.Post(req.Context(), store.Post{
		ID: h.ID.String(), From: h.From, To: h.To, Precedence: uint8(h.Precedence),
		Header: h.Raw, Body: req.Body, BodySize: int64(h.Size), BodySHA256: h.Digest,
		Time: r.cfg.Now(), Retry: req.Header.Get(api.HeaderRetry) == "1",
	})
	switch {
	case errors.Is(err, store.ErrDuplicate):
		return r.answerRepost(w, h, stored)
	case errors.Is(err, store.ErrBodyMismatch):
		return fail(http.StatusBadRequest, api.CodeMalformed, "ciphertext is truncated or does not match the signed digest")
	case errors.Is(err, store.ErrTooLarge):
		return fail(http.StatusRequestEntityTooLarge, api.CodeTooLarge, "envelope larger than %d bytes", r.cfg.MaxEnvelopeBytes)
	case err != nil:
		return err
	}
	r.metrics.letterPosted(h.Precedence)
	r.log.Info("posted", "id", h.ID.String(), "from", h.From, "to", h.To, "precedence", h.Precedence.String(), "size", h.Size, "seq", stored.Seq)
	return r.answerReceipt(w, http.StatusCreated, stored)
}

// checkSender checks that the envelope is from the authenticated device
// and signed by it.
func checkSender(c *caller, h *envelope.Header) error {
	if h.From != c.party || h.Device != c.device.Name {
		return fail(http.StatusForbidden, api.CodeForbidden, "envelope is from %s/%s but the connection is %s/%s", h.From, h.Device, c.party, c.device.Name)
	}
	if err := h.Verify(c.device.Key); err != nil {
		return fail(http.StatusBadRequest, api.CodeBadSignature, "%v", err)
	}
	return nil
}

// checkEnvelope checks a new envelope's size and addressing.
func (r *Relay) checkEnvelope(req *http.Request, h *envelope.Header) error {
	if int64(h.Size) > r.cfg.MaxEnvelopeBytes || h.Size > 1<<62 {
		return fail(http.StatusRequestEntityTooLarge, api.CodeTooLarge, "envelope of %d bytes is over this relay's limit of %d bytes", h.Size, r.cfg.MaxEnvelopeBytes)
	}
	if req.ContentLength >= 0 && req.ContentLength != int64(2+len(h.Raw))+int64(h.Size) {
		return fail(http.StatusBadRequest, api.CodeMalformed, "request length %d does not match the envelope's declared size", req.ContentLength)
	}
	to, err := r.roster(req.Context(), h.To)
	if err != nil {
		return err
	}
	open, err := r.cfg.Store.ChannelOpen(req.Context(), h.From, h.To)
	if err != nil {
		return err
	}
	if !open {
		return fail(http.StatusForbidden, api.CodeNoChannel, "no open channel between %q and %q", h.From, h.To)
	}
	ep := to.Epoch(h.Epoch)
	if ep == nil {
		return fail(http.StatusBadRequest, api.CodeEpoch, "party %q has no epoch key %d", h.To, h.Epoch)
	}
	if !r.cfg.Now().Before(ep.NotAfter) {
		return fail(http.StatusBadRequest, api.CodeEpoch, "epoch key %d of %q expired at %s", h.Epoch, h.To, ep.NotAfter.Format("2006-01-02T15:04:05Z"))
	}
	return nil
}

// answerRepost answers a post of a letter id that is already stored: the
// same envelope gets the same receipt, a different one is a replay.
func (r *Relay) answerRepost(w http.ResponseWriter, h *envelope.Header, prior store.Stored) error {
	if !bytes.Equal(prior.Header, h.Raw) {
		return fail(http.StatusConflict, api.CodeReplay, "letter id %s was already posted with different content", h.ID)
	}
	return r.answerReceipt(w, http.StatusOK, prior)
}

func (r *Relay) answerReceipt(w http.ResponseWriter, status int, s store.Stored) error {
	rc, err := r.postedReceipt(s)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(status)
	_, err = w.Write(rc.Raw)
	return err
}

// recentReceipts is the size of a generation of the posted receipts the
// relay remembers: a few seconds of posts, until the log takes them.
const recentReceipts = 8192

// postedReceipt derives the signed posted receipt of a stored envelope.
// Ed25519 is deterministic, so the same envelope always gets the same
// receipt bytes; one signed lately is reused.
func (r *Relay) postedReceipt(s store.Stored) (*envelope.Receipt, error) {
	if rc, ok := r.posted.Get(s.ID); ok && rc.Seq == s.Seq && rc.Time.Equal(s.Time) {
		return rc, nil
	}
	h, err := envelope.Parse(s.Header)
	if err != nil {
		return nil, err
	}
	rc := &envelope.Receipt{Kind: envelope.Posted, ID: h.ID, Envelope: h.Hash(), Party: r.cfg.Name,
		Signer: envelope.RelaySigner, Time: s.Time, Seq: s.Seq}
	if err := rc.Sign(r.cfg.ReceiptKey); err != nil {
		return nil, err
	}
	r.posted.Put(s.ID, rc)
	return rc, nil
}
