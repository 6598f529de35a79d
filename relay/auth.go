package relay

import (
	"bytes"
	"context"
	"net/http"

	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/internal/tlspin"
)

// caller is an authenticated device.
type caller struct {
	party  string
	device *identity.Device
	roster *identity.Roster
}

type deviceHandler func(w http.ResponseWriter, req *http.Request, c *caller) error

// device wraps a handler that needs an authenticated device: the TLS client
// key must be the roster key of the device named in the request headers.
func (r *Relay) device(h deviceHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		c, err := r.authenticate(req.Context(), req)
		if err == nil {
			err = h(w, req, c)
		}
		if err != nil {
			r.writeError(w, req, err)
		}
	}
}

func (r *Relay) authenticate(ctx context.Context, req *http.Request) (*caller, error) {
	key, ok := tlspin.PeerKey(req.TLS)
	if !ok {
		return nil, fail(http.StatusUnauthorized, api.CodeForbidden, "a TLS client certificate with an Ed25519 key is required")
	}
	party, name := req.Header.Get(api.HeaderParty), req.Header.Get(api.HeaderDevice)
	ros, err := r.roster(ctx, party)
	if err != nil {
		return nil, err
	}
	d := ros.Device(name)
	if d == nil || !bytes.Equal(d.Key, key) {
		return nil, fail(http.StatusForbidden, api.CodeNotOnRoster, "device %q is not on the roster of %q with this key", name, party)
	}
	return &caller{party: party, device: d, roster: ros}, nil
}

// admin wraps a handler for the operator's tools.
func (r *Relay) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		key, ok := tlspin.PeerKey(req.TLS)
		if !ok || !bytes.Equal(key, r.cfg.AdminKey) {
			r.writeError(w, req, fail(http.StatusForbidden, api.CodeForbidden, "admin key required"))
			return
		}
		h(w, req)
	}
}
