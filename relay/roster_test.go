package relay_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"testing"

	"brieftraeger/client"
	"brieftraeger/identity"
	"brieftraeger/internal/api"
)

// get fetches path from the relay as party/device with key and returns the
// status and the body of the answer.
func (w *world) get(key ed25519.PrivateKey, party, device, path string) (int, []byte) {
	w.t.Helper()
	return w.call(http.MethodGet, key, party, device, path, nil)
}

// admitNext signs the version after prev of p's roster with p's root key
// and admits it; it names one new device in place of prev's.
func (w *world) admitNext(p *client.Party, prev *identity.Roster, device string) *identity.Roster {
	w.t.Helper()
	dev, err := identity.NewKeystore(p.Name(), device, false)
	if err != nil {
		w.t.Fatal(err)
	}
	next := &identity.Roster{Party: p.Name(), Serial: prev.Serial + 1, Root: prev.Root, Prev: prev.Hash(),
		Devices: []identity.Device{dev.DeviceEntry()}, Epochs: prev.Epochs}
	if err := next.Sign(w.Keys(p).Root); err != nil {
		w.t.Fatal(err)
	}
	if err := w.Admin.Admit(context.Background(), p.Name(), next.Raw); err != nil {
		w.t.Fatal(err)
	}
	return next
}

func TestRosterChainEndpoint(t *testing.T) {
	w := newWorld(t, 0)
	r1 := w.teh.Roster()
	r2 := w.admitNext(w.teh, r1, "dev-tehran-2")
	r3 := w.admitNext(w.teh, r2, "dev-tehran-3")
	wk := w.Keys(w.wash)
	chainPath := api.PathRosters + "tehran" + api.PathRosterChain

	status, body := w.get(wk.Sign, "washington", wk.Device, chainPath)
	if status != http.StatusOK {
		t.Fatalf("chain: %d %s", status, body)
	}
	var chain [][]byte
	if err := json.Unmarshal(body, &chain); err != nil {
		t.Fatalf("chain is not a JSON list of base64: %v %s", err, body)
	}
	if len(chain) != 3 || !bytes.Equal(chain[0], r1.Raw) || !bytes.Equal(chain[1], r2.Raw) || !bytes.Equal(chain[2], r3.Raw) {
		t.Fatalf("chain has %d versions, not serials 1, 2, 3 in order", len(chain))
	}
	if ros, err := identity.VerifyChain(r1.Root, chain); err != nil || ros.Serial != 3 {
		t.Fatalf("served chain does not verify: %v", err)
	}
	// The latest roster is still served alone.
	if status, body := w.get(wk.Sign, "washington", wk.Device, api.PathRosters+"tehran"); status != http.StatusOK || !bytes.Equal(body, r3.Raw) {
		t.Fatalf("latest roster: %d", status)
	}
	// A party with one version has a chain of one.
	if status, body := w.get(wk.Sign, "washington", wk.Device, api.PathRosters+"moscow"+api.PathRosterChain); status != http.StatusOK ||
		!bytes.Equal(body, mustJSON(t, [][]byte{w.mos.Roster().Raw})) {
		t.Fatalf("chain of moscow: %d %s", status, body)
	}

	_, stranger, _ := ed25519.GenerateKey(nil)
	tk := w.Keys(w.teh) // dev-tehran, removed by serial 2
	refusals := []struct {
		name          string
		key           ed25519.PrivateKey
		party, device string
		path          string
		status        int
		code          string
	}{
		{"a key not on the roster", stranger, "washington", wk.Device, chainPath, http.StatusForbidden, api.CodeNotOnRoster},
		{"a removed device", tk.Sign, "tehran", tk.Device, chainPath, http.StatusForbidden, api.CodeNotOnRoster},
		{"no device named", wk.Sign, "", "", chainPath, http.StatusBadRequest, api.CodeMalformed},
		{"the admin key", w.Dir.AdminKey, "washington", wk.Device, chainPath, http.StatusForbidden, api.CodeNotOnRoster},
		{"an unknown party", wk.Sign, "washington", wk.Device, api.PathRosters + "paris" + api.PathRosterChain, http.StatusNotFound, api.CodeUnknownParty},
		{"an invalid party name", wk.Sign, "washington", wk.Device, api.PathRosters + "Tehran" + api.PathRosterChain, http.StatusBadRequest, api.CodeMalformed},
	}
	for _, c := range refusals {
		status, body := w.get(c.key, c.party, c.device, c.path)
		if status != c.status || code(t, body) != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, status, body, c.status, c.code)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n') // as json.Encoder writes it
}
