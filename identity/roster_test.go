package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"brieftraeger/internal/testvec"
)

func newRecipient(t testing.TB) string {
	t.Helper()
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id.Recipient().String()
}

var testNotAfter = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

// testRoster returns an unsigned roster for party with one device and one
// epoch, rooted at the key labelled root.
func testRoster(t testing.TB, party, root string, serial uint64, prev *Roster) *Roster {
	t.Helper()
	r := &Roster{Party: party, Serial: serial, Root: testvec.Pub(root),
		Devices: []Device{{Name: "laptop", Key: testvec.Pub(party + "-laptop"), Recipient: newRecipient(t)}},
		Epochs:  []Epoch{{Number: uint32(serial), Recipient: newRecipient(t), NotAfter: testNotAfter}},
	}
	if prev != nil {
		r.Prev = prev.Hash()
	}
	return r
}

func signed(t testing.TB, r *Roster, signer string) *Roster {
	t.Helper()
	if err := r.Sign(testvec.Key(signer)); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRosterSignParse(t *testing.T) {
	r1 := signed(t, testRoster(t, "washington", "root-a", 1, nil), "root-a")
	got, err := ParseRoster(r1.Raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rosterEqual(got, r1) {
		t.Fatalf("round trip changed the roster:\n got %+v\nwant %+v", got, r1)
	}
	r2 := signed(t, testRoster(t, "washington", "root-b", 2, r1), "root-a")
	got2, err := ParseRoster(r2.Raw, got)
	if err != nil {
		t.Fatal(err)
	}
	if !rosterEqual(got2, r2) {
		t.Fatal("round trip changed serial 2")
	}
	// The parsed roster does not alias the input.
	raw := bytes.Clone(r1.Raw)
	p, _ := ParseRoster(raw, nil)
	clear(raw)
	if !bytes.Equal(p.Raw, r1.Raw) || !bytes.Equal(p.Root, r1.Root) || !bytes.Equal(p.Devices[0].Key, r1.Devices[0].Key) {
		t.Fatal("parsed roster aliases its input")
	}
}

// TestRosterTamper flips every byte of a signed roster, with and without a
// previous version, and asserts that ParseRoster refuses each one.
func TestRosterTamper(t *testing.T) {
	r1 := signed(t, testRoster(t, "washington", "root-a", 1, nil), "root-a")
	r2 := signed(t, testRoster(t, "washington", "root-a", 2, r1), "root-a")
	for _, c := range []struct {
		name string
		r    *Roster
		prev *Roster
	}{{"serial 1", r1, nil}, {"serial 2", r2, r1}} {
		if _, err := ParseRoster(c.r.Raw, c.prev); err != nil {
			t.Fatalf("%s: untampered: %v", c.name, err)
		}
		for i := range c.r.Raw {
			for _, x := range []byte{0x01, 0x80} {
				bad := bytes.Clone(c.r.Raw)
				bad[i] ^= x
				if _, err := ParseRoster(bad, c.prev); err == nil {
					t.Fatalf("%s: byte %d of %d ^ %#x accepted", c.name, i, len(bad), x)
				}
			}
		}
		for _, bad := range [][]byte{c.r.Raw[:len(c.r.Raw)-1], append(bytes.Clone(c.r.Raw), 0), c.r.Raw[:63], nil} {
			if _, err := ParseRoster(bad, c.prev); err == nil {
				t.Fatalf("%s: %d-byte variant accepted", c.name, len(bad))
			}
		}
	}
}

func TestRosterChain(t *testing.T) {
	r1 := signed(t, testRoster(t, "washington", "root-a", 1, nil), "root-a")
	r2 := signed(t, testRoster(t, "washington", "root-b", 2, r1), "root-a") // rotates to root-b
	r3 := signed(t, testRoster(t, "washington", "root-b", 3, r2), "root-b")
	r3old := signed(t, testRoster(t, "washington", "root-b", 3, r2), "root-a")
	r3prev1 := testRoster(t, "washington", "root-b", 3, r2)
	r3prev1.Prev = r1.Hash()
	signed(t, r3prev1, "root-b")
	gap := signed(t, testRoster(t, "washington", "root-b", 4, r2), "root-b")
	restart := signed(t, testRoster(t, "washington", "mallory", 1, nil), "mallory")
	other := signed(t, testRoster(t, "tehran", "root-b", 3, r2), "root-b")
	pinned := testvec.Pub("root-a")

	for _, c := range []struct {
		name   string
		pinned ed25519.PublicKey
		chain  []*Roster
		ok     bool
	}{
		{"full chain", pinned, []*Roster{r1, r2, r3}, true},
		{"first version only", pinned, []*Roster{r1}, true},
		{"prefix", pinned, []*Roster{r1, r2}, true},
		{"not the pinned root", testvec.Pub("root-b"), []*Roster{r1, r2, r3}, false},
		{"starts at serial 2", pinned, []*Roster{r2, r3}, false},
		{"starts at serial 2 under its signer", testvec.Pub("root-b"), []*Roster{r2, r3}, false},
		{"serial gap", pinned, []*Roster{r1, r2, gap}, false},
		{"skips a version", pinned, []*Roster{r1, r3}, false},
		{"wrong prev", pinned, []*Roster{r1, r2, r3prev1}, false},
		{"signed by the rotated-out root", pinned, []*Roster{r1, r2, r3old}, false},
		{"restart at serial 1 under another root", pinned, []*Roster{r1, r2, restart}, false},
		{"same version twice", pinned, []*Roster{r1, r1}, false},
		{"out of order", pinned, []*Roster{r1, r3, r2}, false},
		{"other party", pinned, []*Roster{r1, r2, other}, false},
		{"empty", pinned, nil, false},
	} {
		var raws [][]byte
		for _, r := range c.chain {
			raws = append(raws, r.Raw)
		}
		got, err := VerifyChain(c.pinned, raws)
		if c.ok != (err == nil) {
			t.Errorf("%s: err = %v, want ok = %v", c.name, err, c.ok)
			continue
		}
		if c.ok && got.Serial != c.chain[len(c.chain)-1].Serial {
			t.Errorf("%s: returned serial %d", c.name, got.Serial)
		}
	}

	// ParseRoster alone: serial > 1 needs prev; a serial-1 roster must not
	// be accepted as the successor of anything.
	if _, err := ParseRoster(r2.Raw, nil); err == nil {
		t.Error("serial 2 parsed without its previous version")
	}
	if _, err := ParseRoster(restart.Raw, r2); err == nil {
		t.Error("a self-signed serial 1 was accepted as the successor of serial 2")
	}
	if _, err := ParseRoster(r1.Raw, r1); err == nil {
		t.Error("serial 1 was accepted as its own successor")
	}
}

func TestRosterSignRefuses(t *testing.T) {
	rc := newRecipient(t)
	x25519, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	base := func() *Roster {
		return &Roster{Party: "washington", Serial: 1, Root: testvec.Pub("root-a"),
			Devices: []Device{{Name: "laptop", Key: testvec.Pub("laptop"), Recipient: rc}},
			Epochs:  []Epoch{{Number: 1, Recipient: rc, NotAfter: testNotAfter}},
		}
	}
	if err := base().Sign(testvec.Key("root-a")); err != nil {
		t.Fatalf("base roster: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(r *Roster)
	}{
		{"bad party", func(r *Roster) { r.Party = "Washington" }},
		{"empty party", func(r *Roster) { r.Party = "" }},
		{"serial 0", func(r *Roster) { r.Serial = 0 }},
		{"serial 1 with prev", func(r *Roster) { r.Prev[0] = 1 }},
		{"serial 2 without prev", func(r *Roster) { r.Serial = 2 }},
		{"short root", func(r *Roster) { r.Root = r.Root[:31] }},
		{"no root", func(r *Roster) { r.Root = nil }},
		{"no devices", func(r *Roster) { r.Devices = nil }},
		{"too many devices", func(r *Roster) {
			for i := range MaxDevices {
				r.Devices = append(r.Devices, Device{Name: "d" + strings.Repeat("x", i%20) + string(rune('a'+i%26)), Key: testvec.Pub("x"), Recipient: rc})
			}
		}},
		{"duplicate device", func(r *Roster) { r.Devices = append(r.Devices, r.Devices[0]) }},
		{"bad device name", func(r *Roster) { r.Devices[0].Name = "-laptop" }},
		{"short device key", func(r *Roster) { r.Devices[0].Key = r.Devices[0].Key[:16] }},
		{"bad device recipient", func(r *Roster) { r.Devices[0].Recipient = rc[:len(rc)-1] }},
		{"classic device recipient", func(r *Roster) { r.Devices[0].Recipient = x25519.Recipient().String() }},
		{"no epochs", func(r *Roster) { r.Epochs = nil }},
		{"too many epochs", func(r *Roster) {
			for i := range MaxEpochs {
				r.Epochs = append(r.Epochs, Epoch{Number: uint32(i + 2), Recipient: rc, NotAfter: testNotAfter})
			}
		}},
		{"epochs not increasing", func(r *Roster) { r.Epochs = append(r.Epochs, r.Epochs[0]) }},
		{"epochs decreasing", func(r *Roster) {
			r.Epochs = append([]Epoch{{Number: 2, Recipient: rc, NotAfter: testNotAfter}}, r.Epochs...)
		}},
		{"bad epoch recipient", func(r *Roster) { r.Epochs[0].Recipient = "age1pq1" }},
		{"no expiry", func(r *Roster) { r.Epochs[0].NotAfter = time.Time{} }},
		{"expiry at epoch 0", func(r *Roster) { r.Epochs[0].NotAfter = time.Unix(0, 0) }},
		// Sign used to accept expiries that ParseRoster refuses.
		{"expiry beyond 2^40", func(r *Roster) { r.Epochs[0].NotAfter = time.Unix(1<<40+1, 0) }},
	} {
		r := base()
		c.edit(r)
		if err := r.Sign(testvec.Key("root-a")); err == nil {
			t.Errorf("%s: Sign accepted the roster", c.name)
		}
		if r.Raw != nil {
			t.Errorf("%s: Sign set Raw on failure", c.name)
		}
	}
	// The latest expiry that Sign takes is one that ParseRoster takes.
	r := base()
	r.Epochs[0].NotAfter = time.Unix(1<<40, 0)
	if err := r.Sign(testvec.Key("root-a")); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseRoster(r.Raw, nil); err != nil {
		t.Fatalf("Sign made a roster that ParseRoster refuses: %v", err)
	}
}

func TestRosterLookups(t *testing.T) {
	r := testRoster(t, "washington", "root-a", 1, nil)
	r.Epochs = append(r.Epochs, Epoch{Number: 5, Recipient: r.Epochs[0].Recipient, NotAfter: testNotAfter.Add(time.Hour)})
	if r.Device("laptop") == nil || r.Device("nobody") != nil {
		t.Error("Device lookup")
	}
	if r.Epoch(5) == nil || r.Epoch(2) != nil {
		t.Error("Epoch lookup")
	}
	for _, c := range []struct {
		now  time.Time
		want uint32
	}{
		{testNotAfter.Add(-time.Hour), 5},
		{testNotAfter, 5},
		{testNotAfter.Add(time.Hour - time.Second), 5},
	} {
		e, err := r.CurrentEpoch(c.now)
		if err != nil || e.Number != c.want {
			t.Errorf("CurrentEpoch(%v) = %v, %v; want %d", c.now, e, err, c.want)
		}
	}
	if _, err := r.CurrentEpoch(testNotAfter.Add(time.Hour)); err == nil {
		t.Error("CurrentEpoch returned an expired epoch")
	}
}

func TestCheckName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"washington", true},
		{"duty-officer", true},
		{"a-", true},
		{"0", true},
		{"9-lives", true},
		{"a--b", true},
		{strings.Repeat("a", 32), true},
		{strings.Repeat("a", 33), false},
		{"", false},
		{"-a", false},
		{"-", false},
		{"Washington", false},
		{"wash ington", false},
		{"wash_ington", false},
		{"wash.ington", false},
		{"wash/ington", false},
		{"tehran\n", false},
		{"\x00", false},
		{"zürich", false},
		{"relay", true},
	} {
		err := CheckName("party", c.name)
		if (err == nil) != c.ok {
			t.Errorf("CheckName(%q) = %v, want ok = %v", c.name, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "invalid party name") {
			t.Errorf("CheckName(%q) error %q does not say what was invalid", c.name, err)
		}
	}
}

func TestPublicKeyText(t *testing.T) {
	pub := testvec.Pub("washington-root-1")
	s := EncodePublicKey(pub)
	if len(s) != 44 {
		t.Fatalf("text form %q is not 44 characters", s)
	}
	got, err := ParsePublicKey(s)
	if err != nil || !bytes.Equal(got, pub) {
		t.Fatalf("ParsePublicKey(%q) = %x, %v", s, got, err)
	}
	for _, bad := range []string{
		"", s[:43], s + "=", strings.TrimRight(s, "="), " " + s, s + " ", "\t" + s,
		strings.NewReplacer("+", "-", "/", "_").Replace(EncodePublicKey(bytes.Repeat([]byte{0xfb}, 32))),
		EncodePublicKey(pub[:31]), EncodePublicKey(append(bytes.Clone(pub), 0)),
		// Non-canonical: the last character carries bits that must be zero.
		s[:42] + string(s[42]+1) + "=",
	} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", bad)
		}
	}
	// Go's base64 decoder skips CR and LF even in strict mode; the key is
	// the same, and docs/PROTOCOL.md says so.
	for _, s := range []string{s + "\n", s[:20] + "\r\n" + s[20:]} {
		if got, err := ParsePublicKey(s); err != nil || !bytes.Equal(got, pub) {
			t.Errorf("ParsePublicKey(%q) = %x, %v", s, got, err)
		}
	}
}

func TestFingerprint(t *testing.T) {
	a, b := Fingerprint(testvec.Pub("a")), Fingerprint(testvec.Pub("b"))
	if a == b {
		t.Fatal("different keys, same fingerprint")
	}
	if len(a) != 39 || strings.Count(a, ":") != 7 || strings.ToLower(a) != a {
		t.Fatalf("fingerprint %q is not 8 groups of 4 lowercase hex digits", a)
	}
	h := Hash(ContextFingerprint, testvec.Pub("a"))
	if strings.ReplaceAll(a, ":", "") != hex.EncodeToString(h[:16]) {
		t.Fatal("fingerprint is not the first 16 bytes of the key hash")
	}
}

func TestSignVerifyContext(t *testing.T) {
	key := testvec.Key("k")
	pub := testvec.Pub("k")
	msg := []byte("message")
	sig := Sign(key, ContextRoster, msg)
	if !Verify(pub, ContextRoster, msg, sig) {
		t.Fatal("signature does not verify")
	}
	if !bytes.Equal(sig, testvec.SpecSign(key, ContextRoster, msg)) {
		t.Fatal("Sign is not Ed25519 over context || \"\\n\" || msg")
	}
	for name, ok := range map[string]bool{
		"other context":      Verify(pub, ContextRosterHash, msg, sig),
		"context moved":      Verify(pub, ContextRoster+"\nmes", []byte("sage"), sig),
		"other key":          Verify(testvec.Pub("j"), ContextRoster, msg, sig),
		"other message":      Verify(pub, ContextRoster, []byte("messagf"), sig),
		"short signature":    Verify(pub, ContextRoster, msg, sig[:63]),
		"short key":          Verify(pub[:31], ContextRoster, msg, sig),
		"empty signature":    Verify(pub, ContextRoster, msg, nil),
		"raw Ed25519 of msg": Verify(pub, ContextRoster, msg, ed25519.Sign(key, msg)),
	} {
		if ok {
			t.Errorf("%s: verified", name)
		}
	}
	if h := Hash(ContextRosterHash, []byte("a"), []byte("b")); h != Hash(ContextRosterHash, []byte("ab")) {
		t.Fatal("Hash does not concatenate its data")
	}
	if h := Hash(ContextRosterHash, msg); !bytes.Equal(h[:], testvec.SpecHash(ContextRosterHash, msg)) {
		t.Fatal("Hash is not SHA-256 over context || \"\\n\" || data")
	}
}

// TestContextsDocumented checks this package's contexts against the rules in
// docs/PROTOCOL.md and that the document lists each one.
func TestContextsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{ContextRoster, ContextRosterHash, ContextFingerprint} {
		if !strings.HasPrefix(c, "brieftraeger/v1 ") || strings.ContainsAny(c, "\n\x00") {
			t.Errorf("context %q breaks the rules", c)
		}
		if !bytes.Contains(doc, []byte("`"+c+"`")) {
			t.Errorf("docs/PROTOCOL.md does not list context %q", c)
		}
	}
}
