package relay

import (
	"context"
	"io"
	"net/http"
	"time"

	"brieftraeger/internal/api"
)

// readyTimeout bounds the store query of GET /readyz.
const readyTimeout = 2 * time.Second

// healthz answers GET /healthz: 200 "ok" while the process serves HTTP.
func (r *Relay) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	io.WriteString(w, "ok\n")
}

// readyz answers GET /readyz: 200 "ready" if the store answers a query
// within readyTimeout, else 503 with the API error "unavailable". A full
// disk keeps it ready (stored letters are still delivered) and adds a
// line saying so.
func (r *Relay) readyz(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), readyTimeout)
	defer cancel()
	if err := r.storeReady(ctx); err != nil {
		r.log.Warn("not ready", "err", err)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Retry-After", retryAfter)
		writeJSON(w, http.StatusServiceUnavailable, api.Error{Code: api.CodeUnavailable, Message: "relay storage unavailable"})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	io.WriteString(w, "ready\n"+r.space.note())
}
