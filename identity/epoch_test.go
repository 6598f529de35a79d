package identity

import (
	"bytes"
	"strings"
	"testing"

	"filippo.io/age"

	"brieftraeger/internal/testvec"
)

func newDevices(t testing.TB, names ...string) ([]Device, []*age.HybridIdentity) {
	t.Helper()
	var devs []Device
	var ids []*age.HybridIdentity
	for _, n := range names {
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			t.Fatal(err)
		}
		devs = append(devs, Device{Name: n, Key: testvec.Pub(n), Recipient: id.Recipient().String()})
		ids = append(ids, id)
	}
	return devs, ids
}

func TestSealOpenEpoch(t *testing.T) {
	ep, err := NewEpochKey()
	if err != nil {
		t.Fatal(err)
	}
	devs, ids := newDevices(t, "laptop", "duty-officer", "tablet")
	sealed, err := SealEpoch(ep, devs)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(ep.String())) || bytes.Contains(bytes.ToLower(sealed), bytes.ToLower([]byte(ep.String()))) {
		t.Fatal("sealed epoch holds the secret in clear")
	}
	if n := bytes.Count(sealed, []byte("\n-> mlkem768x25519 ")); n != len(devs) {
		t.Fatalf("%d stanzas for %d devices", n, len(devs))
	}
	for i, id := range ids {
		got, err := OpenEpoch(sealed, id)
		if err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
		if got.String() != ep.String() {
			t.Fatalf("device %d opened a different key", i)
		}
	}
	_, others := newDevices(t, "removed")
	if _, err := OpenEpoch(sealed, others[0]); err == nil {
		t.Fatal("a device not sealed to opened the epoch key")
	}
}

// TestSealEpochTamper flips bytes across a sealed epoch key, including every
// byte of the header and the payload, and asserts that it no longer opens.
func TestSealEpochTamper(t *testing.T) {
	ep, err := NewEpochKey()
	if err != nil {
		t.Fatal(err)
	}
	devs, ids := newDevices(t, "laptop", "duty-officer")
	sealed, err := SealEpoch(ep, devs)
	if err != nil {
		t.Fatal(err)
	}
	hdrEnd := bytes.Index(sealed, []byte("\n--- "))
	if hdrEnd < 0 {
		t.Fatal("no header end")
	}
	for i := range sealed {
		// Inside the long stanza lines, every 7th byte is enough; the
		// header's MAC line and the payload are tampered byte by byte.
		if i < hdrEnd && i%7 != 0 {
			continue
		}
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		for j, id := range ids {
			if _, err := OpenEpoch(bad, id); err == nil {
				t.Fatalf("device %d: flipped byte %d of %d went unnoticed", j, i, len(sealed))
			}
		}
	}
	if _, err := OpenEpoch(sealed[:len(sealed)-1], ids[0]); err == nil {
		t.Fatal("truncated epoch key opened")
	}
}

func TestSealEpochRefuses(t *testing.T) {
	ep, err := NewEpochKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SealEpoch(ep, nil); err == nil {
		t.Error("sealed to no device")
	}
	devs, _ := newDevices(t, "laptop")
	x, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]string{"empty": "", "classic x25519": x.Recipient().String(), "truncated": devs[0].Recipient[:100]} {
		d := append(devs[:1:1], Device{Name: "bad", Recipient: r})
		if _, err := SealEpoch(ep, d); err == nil || !strings.Contains(err.Error(), `device "bad"`) {
			t.Errorf("%s recipient: got %v", name, err)
		}
	}
}

// TestOpenEpochPayload checks that OpenEpoch takes only an age hybrid
// identity string as the payload.
func TestOpenEpochPayload(t *testing.T) {
	devs, ids := newDevices(t, "laptop")
	r, err := age.ParseHybridRecipient(devs[0].Recipient)
	if err != nil {
		t.Fatal(err)
	}
	x, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	ep, _ := NewEpochKey()
	for name, payload := range map[string]string{
		"empty":          "",
		"x25519 secret":  x.String(),
		"trailing space": ep.String() + " ",
		"oversized":      strings.Repeat("A", 9000),
	} {
		var buf bytes.Buffer
		w, err := age.Encrypt(&buf, r)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(payload))
		w.Close()
		if _, err := OpenEpoch(buf.Bytes(), ids[0]); err == nil {
			t.Errorf("%s payload accepted", name)
		}
	}
}
