package relay_test

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"brieftraeger/client"
	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/store"
)

// A party's epoch bundles: only its own devices give, read and erase
// them; only the bundle of the next epoch can be given; a bundle whose
// epoch the roster names cannot be erased; a roster that drops an epoch
// erases its bundle.
func TestEpochBundles(t *testing.T) {
	w := newWorld(t, 0)
	ctx := context.Background()
	wk, tk := w.Keys(w.wash), w.Keys(w.teh)
	key, err := identity.NewEpochKey()
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := identity.SealEpoch(key, w.wash.Roster().Devices)
	if err != nil {
		t.Fatal(err)
	}
	path := func(n string) string { return api.PathRosters + "washington" + api.PathEpochs + n }
	refusals := []struct {
		name   string
		method string
		ks     *identity.Keystore
		path   string
		body   []byte
		status int
		code   string
	}{
		{"another party's device puts", http.MethodPut, tk, path("2"), bundle, http.StatusForbidden, api.CodeForbidden},
		{"not the next epoch", http.MethodPut, wk, path("3"), bundle, http.StatusConflict, api.CodeConflict},
		{"an epoch on the roster", http.MethodPut, wk, path("1"), bundle, http.StatusConflict, api.CodeConflict},
		{"not a number", http.MethodPut, wk, path("02"), bundle, http.StatusBadRequest, api.CodeMalformed},
		{"epoch 0", http.MethodPut, wk, path("0"), bundle, http.StatusBadRequest, api.CodeMalformed},
		{"not an age file", http.MethodPut, wk, path("2"), []byte("hello"), http.StatusBadRequest, api.CodeMalformed},
		{"too large", http.MethodPut, wk, path("2"), append(bytes.Clone(bundle), make([]byte, api.MaxEpochBundle)...), http.StatusRequestEntityTooLarge, api.CodeTooLarge},
		{"another party's device reads", http.MethodGet, tk, path("2"), nil, http.StatusForbidden, api.CodeForbidden},
		{"none stored", http.MethodGet, wk, path("2"), nil, http.StatusNotFound, api.CodeNotFound},
		{"erasing an epoch on the roster", http.MethodDelete, wk, path("1"), nil, http.StatusConflict, api.CodeConflict},
		{"another party's device erases", http.MethodDelete, tk, path("5"), nil, http.StatusForbidden, api.CodeForbidden},
	}
	for _, c := range refusals {
		status, body := w.call(c.method, c.ks.Sign, c.ks.Party, c.ks.Device, c.path, c.body)
		if status != c.status || code(t, body) != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, status, body, c.status, c.code)
		}
	}
	if n, err := w.Store.EpochBundles(ctx, "washington"); err != nil || len(n) != 0 {
		t.Fatalf("bundles stored by refused requests: %v %v", n, err)
	}

	if status, body := w.call(http.MethodPut, wk.Sign, "washington", wk.Device, path("2"), bundle); status != http.StatusOK {
		t.Fatalf("put: %d %s", status, body)
	}
	// Until a roster names epoch 2, its bundle is not served: a rotation
	// puts it before its roster, and one that lost leaves nothing to fetch.
	if status, body := w.call(http.MethodGet, wk.Sign, "washington", wk.Device, path("2"), nil); status != http.StatusNotFound || code(t, body) != api.CodeNotFound {
		t.Fatalf("get before the roster names it: %d %s", status, body)
	}

	// Rotations through the client: epoch 2 (replacing the bundle above),
	// 3; destroying 2 erases its bundle with the roster that drops it.
	for range 2 {
		if _, err := w.wash.RotateEpoch(ctx, client.EpochOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := w.Store.EpochBundles(ctx, "washington"); err != nil || len(n) != 2 || n[0] != 2 || n[1] != 3 {
		t.Fatalf("bundles: %v %v", n, err)
	}
	if status, got := w.call(http.MethodGet, wk.Sign, "washington", wk.Device, path("2"), nil); status != http.StatusOK || bytes.Equal(got, bundle) {
		t.Fatalf("the bundle given first was not replaced: %d", status)
	}
	raw := w.wash.Roster()
	next := &identity.Roster{Party: "washington", Serial: raw.Serial + 1, Root: raw.Root, Prev: raw.Hash(), Devices: raw.Devices,
		Epochs: []identity.Epoch{raw.Epochs[0], raw.Epochs[2]}}
	if err := next.Sign(wk.Root); err != nil {
		t.Fatal(err)
	}
	if status, body := w.call(http.MethodPut, wk.Sign, "washington", wk.Device, api.PathRosters+"washington", next.Raw); status != http.StatusOK {
		t.Fatalf("roster: %d %s", status, body)
	}
	if n, err := w.Store.EpochBundles(ctx, "washington"); err != nil || len(n) != 1 || n[0] != 3 {
		t.Fatalf("bundles after epoch 2 was dropped: %v %v", n, err)
	}
	if status, body := w.call(http.MethodDelete, wk.Sign, "washington", wk.Device, path("2"), nil); status != http.StatusOK || !strings.Contains(string(body), `"epoch":2`) {
		t.Fatalf("erasing a bundle already erased: %d %s", status, body)
	}
	// A bundle of a dropped epoch that an erase missed (here put back
	// straight into the store) goes with the next roster taken.
	if err := w.Store.PutEpochBundle(ctx, "washington", 2, bundle); err != nil {
		t.Fatal(err)
	}
	if _, err := w.wash.RotateEpoch(ctx, client.EpochOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Store.EpochBundles(ctx, "washington"); err != nil || slices.Contains(n, 2) {
		t.Fatalf("a stale bundle of epoch 2 survived a roster change: %v %v", n, err)
	}
}

// TestEpochBundleLimit: the bundle of an epoch sealed to as many devices
// as a roster can name fits the relay's limit.
func TestEpochBundleLimit(t *testing.T) {
	var devs []identity.Device
	for range identity.MaxDevices {
		ks, err := identity.NewKeystore("washington", "d", false)
		if err != nil {
			t.Fatal(err)
		}
		devs = append(devs, ks.DeviceEntry())
	}
	key, _ := identity.NewEpochKey()
	b, err := identity.SealEpoch(key, devs)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > api.MaxEpochBundle || len(b) > store.MaxEpochBundleBytes {
		t.Fatalf("a bundle for %d devices is %d bytes, above the limit %d", identity.MaxDevices, len(b), api.MaxEpochBundle)
	}
}
