package relay_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"net/http"
	"testing"

	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/internal/tlspin"
)

// call sends a request with body to path as party/device with key and
// returns the status and the answer.
func (w *world) call(method string, key ed25519.PrivateKey, party, device, path string, body []byte) (int, []byte) {
	w.t.Helper()
	conf, err := tlspin.ClientTLSConfig(key, w.Dir.Descriptor.TLSSHA256)
	if err != nil {
		w.t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest(method, w.URL+path, bytes.NewReader(body))
	req.Header.Set(api.HeaderParty, party)
	req.Header.Set(api.HeaderDevice, device)
	resp, err := c.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// A device gives its own party's next roster to the relay; the relay takes
// only a version that follows the current one, and only from the party's
// own devices.
func TestPutOwnRoster(t *testing.T) {
	w := newWorld(t, 0)
	wk, tk := w.Keys(w.wash), w.Keys(w.teh)
	r1 := w.wash.Roster()
	dev, err := identity.NewKeystore("washington", "desk", false)
	if err != nil {
		t.Fatal(err)
	}
	next := func(signer ed25519.PrivateKey) *identity.Roster {
		r := &identity.Roster{Party: "washington", Serial: 2, Root: r1.Root, Prev: r1.Hash(),
			Devices: append(append([]identity.Device{}, r1.Devices...), dev.DeviceEntry()), Epochs: r1.Epochs}
		if err := r.Sign(signer); err != nil {
			t.Fatal(err)
		}
		return r
	}
	good := next(wk.Root)
	forged := next(wk.Sign) // signed by a device key, not the root
	path := api.PathRosters + "washington"

	refusals := []struct {
		name          string
		key           ed25519.PrivateKey
		party, device string
		path          string
		body          []byte
		status        int
		code          string
	}{
		{"another party's device", tk.Sign, "tehran", tk.Device, path, good.Raw, http.StatusForbidden, api.CodeForbidden},
		{"not signed by the root", wk.Sign, "washington", wk.Device, path, forged.Raw, http.StatusBadRequest, api.CodeMalformed},
		{"not the next version", wk.Sign, "washington", wk.Device, path, r1.Raw[:len(r1.Raw)-1], http.StatusBadRequest, api.CodeMalformed},
		{"the admin key", w.Dir.AdminKey, "washington", wk.Device, path, good.Raw, http.StatusForbidden, api.CodeNotOnRoster},
	}
	for _, c := range refusals {
		status, body := w.call(http.MethodPut, c.key, c.party, c.device, c.path, c.body)
		if status != c.status || code(t, body) != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, status, body, c.status, c.code)
		}
	}
	if raw, err := w.Store.Roster(context.Background(), "washington"); err != nil || !bytes.Equal(raw, r1.Raw) {
		t.Fatalf("a refused roster changed the stored one: %v", err)
	}
	for range 2 { // the same version again is no change
		if status, body := w.call(http.MethodPut, wk.Sign, "washington", wk.Device, path, good.Raw); status != http.StatusOK {
			t.Fatalf("the next version: %d %s", status, body)
		}
	}
	// Another version 2, made from version 1 at the same time: a conflict.
	rival := &identity.Roster{Party: "washington", Serial: 2, Root: r1.Root, Prev: r1.Hash(), Devices: r1.Devices, Epochs: r1.Epochs}
	if err := rival.Sign(wk.Root); err != nil {
		t.Fatal(err)
	}
	if status, body := w.call(http.MethodPut, wk.Sign, "washington", wk.Device, path, rival.Raw); status != http.StatusConflict || code(t, body) != api.CodeConflict {
		t.Fatalf("a rival version 2: %d %s", status, body)
	}
	chain, err := w.Store.RosterHistory(context.Background(), "washington")
	if err != nil || len(chain) != 2 || !bytes.Equal(chain[1], good.Raw) {
		t.Fatalf("chain after the change: %d versions, %v", len(chain), err)
	}
	// The new device is now let in.
	if status, body := w.get(dev.Sign, "washington", "desk", api.PathRosters+"tehran"); status != http.StatusOK {
		t.Fatalf("the new device: %d %s", status, body)
	}
}
