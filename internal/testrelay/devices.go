package testrelay

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"brieftraeger/client"
	"brieftraeger/identity"
)

// AddDevice gives party p, whose device holds the root key, a new device
// named device, as a person does with 'brief party device add': the new
// device asks to join (client.StartJoin, in a folder under Base named
// "PARTY-DEVICE"), p's device admits it (AddDevice: the next roster, at
// the relay), and the new device takes its admission (client.FinishJoin)
// and pins the contacts p has pinned. It returns the new device's party,
// closed when the test ends.
func (w *World) AddDevice(p *client.Party, device string) *client.Party {
	w.T.Helper()
	ctx := context.Background()
	dir := filepath.Join(w.Base, p.Name()+"-"+device)
	jr, err := client.StartJoin(client.JoinOptions{Dir: dir, Party: p.Name(), Device: device, Passphrase: Passphrase, WorkFactor: 10, AllowWeakWorkFactor: true,
		Relay: w.Descriptor(), RootFingerprint: identity.Fingerprint(p.Roster().Root)})
	if err != nil {
		w.T.Fatal(err)
	}
	ad, err := p.AddDevice(ctx, jr.Raw)
	if err != nil {
		w.T.Fatal(err)
	}
	raw, err := json.Marshal(ad)
	if err != nil {
		w.T.Fatal(err)
	}
	np, err := client.FinishJoin(ctx, dir, Passphrase, raw, client.Options{})
	if err != nil {
		w.T.Fatal(err)
	}
	w.T.Cleanup(np.Close)
	w.copyContacts(p, np)
	return np
}

// copyContacts pins at to each contact from has pinned (contacts/P.json),
// with the same root key, fetching its roster chain from the relay.
func (w *World) copyContacts(from, to *client.Party) {
	w.T.Helper()
	names, err := filepath.Glob(filepath.Join(from.Dir(), "contacts", "*.json"))
	if err != nil {
		w.T.Fatal(err)
	}
	for _, n := range names {
		var pinned struct {
			Root ed25519.PublicKey `json:"root"`
		}
		b, err := os.ReadFile(n)
		if err == nil {
			err = json.Unmarshal(b, &pinned)
		}
		if err != nil {
			w.T.Fatal(err)
		}
		party := strings.TrimSuffix(filepath.Base(n), ".json")
		if _, err := to.AddContact(context.Background(), party, pinned.Root); err != nil {
			w.T.Fatal(err)
		}
	}
}
