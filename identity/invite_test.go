package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"brieftraeger/internal/testvec"
)

func testCode(label string) InviteCode {
	var c InviteCode
	copy(c[:], testvec.Bytes(label, len(c)))
	return c
}

var testExpiry = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

func TestInviteWordList(t *testing.T) {
	sum := sha256.Sum256([]byte(inviteWordList))
	if got := hex.EncodeToString(sum[:]); got != "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda" {
		t.Fatalf("word list sha256 %s is not BIP-39 English's", got)
	}
	if len(inviteWords) != 2048 {
		t.Fatalf("%d words", len(inviteWords))
	}
	prefixes := map[string]bool{}
	for _, w := range inviteWords {
		p := w[:min(4, len(w))]
		if prefixes[p] {
			t.Fatalf("prefix %q twice", p)
		}
		prefixes[p] = true
	}
}

func TestInviteCodeRoundTrip(t *testing.T) {
	for i := range 200 {
		c, err := NewInviteCode()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			c = InviteCode{}
		}
		if len(c.Words()) != InviteWords {
			t.Fatalf("%d words", len(c.Words()))
		}
		got, err := ParseInviteCode(c.String())
		if err != nil || got != c {
			t.Fatalf("%q: %x, %v; want %x", c.String(), got, err, c)
		}
		// Four-letter prefixes, capitals and dashes read the same code.
		var short []string
		for _, w := range c.Words() {
			short = append(short, strings.ToUpper(w[:min(4, len(w))]))
		}
		if got, err := ParseInviteCode(strings.Join(short, "-")); err != nil || got != c {
			t.Fatalf("%q: %x, %v", strings.Join(short, "-"), got, err)
		}
	}
}

func TestParseInviteCodeRefuses(t *testing.T) {
	c := testCode("invite-code")
	w := c.Words()
	for _, tc := range []struct{ in, msg string }{
		{strings.Join(w[:7], " "), "an invitation code is 8 words, this has 7"},
		{c.String() + " abandon", "this has 9"},
		{strings.Join(append([]string{"brieftraeger"}, w[1:]...), " "), `word 1 of the code, "brieftraeger", is not in the word list`},
		{strings.Join(append(append([]string{}, w[:4]...), append([]string{"zzz"}, w[5:]...)...), " "), `word 5 of the code, "zzz"`},
		{"", "this has 0"},
	} {
		if _, err := ParseInviteCode(tc.in); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.msg)
		}
	}
}

func TestInvitationAuthenticated(t *testing.T) {
	code := testCode("invite-code")
	inv, err := NewInvitation(code, "washington", "tehran", testvec.Pub("root-w"), testExpiry)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenInvitation(code, inv.Raw)
	if err != nil || got.From != "washington" || got.For != "tehran" || !bytes.Equal(got.Root, testvec.Pub("root-w")) || !got.Expires.Equal(testExpiry) {
		t.Fatalf("%+v, %v", got, err)
	}
	// Another code does not open it.
	if _, err := OpenInvitation(testCode("other"), inv.Raw); !errors.Is(err, ErrInviteAuth) {
		t.Fatalf("other code: %v", err)
	}
	// Every changed byte is refused: malformed, or not authenticated.
	for i := range inv.Raw {
		bad := bytes.Clone(inv.Raw)
		bad[i] ^= 1
		if _, err := OpenInvitation(code, bad); err == nil {
			t.Fatalf("byte %d changed: accepted", i)
		}
	}
	// A relay that swaps the root key and keeps the tag is caught.
	swapped := *inv
	swapped.Root = testvec.Pub("root-mallory")
	body, _ := swapped.body()
	if _, err := OpenInvitation(code, append(body, inv.Raw[len(body):]...)); !errors.Is(err, ErrInviteAuth) {
		t.Fatalf("swapped root: %v", err)
	}
}

func TestInviteAnswerAuthenticated(t *testing.T) {
	code := testCode("invite-code")
	inv, _ := NewInvitation(code, "washington", "tehran", testvec.Pub("root-w"), testExpiry)
	a, err := NewInviteAnswer(code, inv, "tehran", testvec.Pub("root-t"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenInviteAnswer(code, inv, a.Raw)
	if err != nil || got.From != "tehran" || got.To != "washington" || !bytes.Equal(got.Root, testvec.Pub("root-t")) {
		t.Fatalf("%+v, %v", got, err)
	}
	for i := range a.Raw {
		bad := bytes.Clone(a.Raw)
		bad[i] ^= 1
		if _, err := OpenInviteAnswer(code, inv, bad); err == nil {
			t.Fatalf("byte %d changed: accepted", i)
		}
	}
	if _, err := OpenInviteAnswer(testCode("other"), inv, a.Raw); !errors.Is(err, ErrInviteAuth) {
		t.Fatalf("other code: %v", err)
	}
	// An answer to another invitation under the same code is refused.
	inv2, _ := NewInvitation(code, "washington", "tehran", testvec.Pub("root-w"), testExpiry.Add(time.Hour))
	if _, err := OpenInviteAnswer(code, inv2, a.Raw); err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("answer to another invitation: %v", err)
	}
}

func TestChannelConsentSigned(t *testing.T) {
	lookup := testCode("invite-code").Lookup()
	c, err := SignChannelConsent(testvec.Key("dev-t"), "tehran", "terminal", "washington", lookup)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseChannelConsent(c.Raw)
	if err != nil || got.A != "tehran" || got.B != "washington" || got.Party != "tehran" || got.Lookup != lookup {
		t.Fatalf("%+v, %v", got, err)
	}
	if !got.Verify(testvec.Pub("dev-t")) || got.Verify(testvec.Pub("dev-w")) {
		t.Fatal("signature check")
	}
	for i := range c.Raw {
		bad := bytes.Clone(c.Raw)
		bad[i] ^= 1
		if p, err := ParseChannelConsent(bad); err == nil && p.Verify(testvec.Pub("dev-t")) {
			t.Fatalf("byte %d changed: accepted", i)
		}
	}
	if _, err := SignChannelConsent(testvec.Key("dev-t"), "tehran", "terminal", "tehran", lookup); err == nil {
		t.Fatal("consent to a channel with itself")
	}
}

// inviteVectors is testdata/vectors/invitation.json.
type inviteVectors struct {
	Comment    string           `json:"comment"`
	Code       testvec.HexBytes `json:"code"`
	Words      string           `json:"words"`
	ID         testvec.HexBytes `json:"id"`
	Lookup     testvec.HexBytes `json:"lookup"`
	MACKey     testvec.HexBytes `json:"mac_key"`
	RootSeedW  testvec.HexBytes `json:"root_seed_washington"`
	RootSeedT  testvec.HexBytes `json:"root_seed_tehran"`
	DevSeedT   testvec.HexBytes `json:"device_seed_tehran_terminal"`
	Expires    int64            `json:"expires"`
	Invitation testvec.HexBytes `json:"invitation"`
	InvHash    testvec.HexBytes `json:"invitation_hash"`
	Answer     testvec.HexBytes `json:"answer"`
	Consent    testvec.HexBytes `json:"consent"`
}

func TestInviteVectors(t *testing.T) {
	code := testCode("invite-code")
	inv, err := NewInvitation(code, "washington", "tehran", testvec.Pub("root-w"), testExpiry)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := NewInviteAnswer(code, inv, "tehran", testvec.Pub("root-t"))
	c, _ := SignChannelConsent(testvec.Key("dev-t"), "tehran", "terminal", "washington", inv.Lookup)
	lookup, h := code.Lookup(), inv.Hash()
	gen := inviteVectors{
		Comment: "Invitation: an 11-byte code, its 8 BIP-39 words (11 bits each, big-endian); id = HKDF-SHA256(code, no salt, info \"brieftraeger/v1 invitation-id\", 32); " +
			"lookup = SHA-256(\"brieftraeger/v1 invitation-lookup\\n\" || id); mac_key = HKDF-SHA256(code, no salt, info \"brieftraeger/v1 invitation-mac-key\", 32); " +
			"invitation = body || HMAC-SHA256(mac_key, \"brieftraeger/v1 invitation\\n\" || body); answer likewise with \"brieftraeger/v1 invitation-answer\"; " +
			"invitation_hash = SHA-256(\"brieftraeger/v1 invitation-hash\\n\" || invitation); consent = body || Ed25519(device key, \"brieftraeger/v1 channel-consent\\n\" || body). Layouts in docs/PROTOCOL.md.",
		Code: code[:], Words: code.String(), ID: code.ID(), Lookup: lookup[:], MACKey: code.macKey(),
		RootSeedW: testvec.Seed("root-w"), RootSeedT: testvec.Seed("root-t"), DevSeedT: testvec.Seed("dev-t"),
		Expires: testExpiry.Unix(), Invitation: inv.Raw, InvHash: h[:], Answer: a.Raw, Consent: c.Raw,
	}
	testvec.Sync(t, "invitation.json", gen)

	// An independent encoder, written from docs/PROTOCOL.md.
	id, _ := hkdf.Key(sha256.New, code[:], nil, "brieftraeger/v1 invitation-id", 32)
	key, _ := hkdf.Key(sha256.New, code[:], nil, "brieftraeger/v1 invitation-mac-key", 32)
	specLookup := testvec.SpecHash("brieftraeger/v1 invitation-lookup", id)
	mac := func(ctx string, body []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(append([]byte(ctx+"\n"), body...))
		return m.Sum(nil)
	}
	str8 := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	body := append([]byte{1}, specLookup...)
	body = append(body, str8("washington")...)
	body = append(body, str8("tehran")...)
	body = append(body, testvec.Pub("root-w")...)
	body = binary.BigEndian.AppendUint64(body, uint64(testExpiry.Unix()))
	specInv := append(body, mac("brieftraeger/v1 invitation", body)...)
	specHash := testvec.SpecHash("brieftraeger/v1 invitation-hash", specInv)
	ab := append([]byte{1}, specLookup...)
	ab = append(ab, specHash...)
	ab = append(ab, str8("tehran")...)
	ab = append(ab, str8("washington")...)
	ab = append(ab, testvec.Pub("root-t")...)
	specAns := append(ab, mac("brieftraeger/v1 invitation-answer", ab)...)
	cb := append([]byte{1}, str8("tehran")...)
	cb = append(cb, str8("washington")...)
	cb = append(cb, specLookup...)
	cb = append(cb, str8("tehran")...)
	cb = append(cb, str8("terminal")...)
	specConsent := append(cb, testvec.SpecSign(testvec.Key("dev-t"), "brieftraeger/v1 channel-consent", cb)...)
	for name, pair := range map[string][2][]byte{
		"id": {id, code.ID()}, "lookup": {specLookup, lookup[:]}, "invitation": {specInv, inv.Raw},
		"hash": {specHash, h[:]}, "answer": {specAns, a.Raw}, "consent": {specConsent, c.Raw},
	} {
		if !bytes.Equal(pair[0], pair[1]) {
			t.Errorf("%s: spec %x, code %x", name, pair[0], pair[1])
		}
	}
	// The words: each 11 bits of the code, big-endian.
	var n uint64
	for _, b := range code[:8] {
		n = n<<8 | uint64(b)
	}
	if first := inviteWords[n>>53]; !strings.HasPrefix(code.String(), first+" ") {
		t.Errorf("first word %q, words %q", first, code.String())
	}
}

func FuzzParseInviteCode(f *testing.F) {
	f.Add(testCode("invite-code").String())
	f.Add("abandon abandon abandon abandon abandon abandon abandon abandon")
	f.Add("zoo-zoo-zoo-zoo-zoo-zoo-zoo-zoo")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseInviteCode(s)
		if err != nil {
			return
		}
		if again, err := ParseInviteCode(c.String()); err != nil || again != c {
			t.Fatalf("%q parsed to %x, whose words %q parse to %x, %v", s, c, c.String(), again, err)
		}
	})
}

func FuzzDecodeInvitation(f *testing.F) {
	var vf inviteVectors
	testvec.Read(f, "invitation.json", &vf)
	f.Add([]byte(vf.Invitation))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := DecodeInvitation(data)
		if err != nil {
			return
		}
		body, err := inv.body()
		if err != nil || !bytes.Equal(append(body, data[len(body):]...), data) || len(data)-len(body) != macSize {
			t.Fatalf("%x decodes but does not re-encode: %v", data, err)
		}
	})
}

func FuzzDecodeInviteAnswer(f *testing.F) {
	var vf inviteVectors
	testvec.Read(f, "invitation.json", &vf)
	f.Add([]byte(vf.Answer))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := DecodeInviteAnswer(data)
		if err != nil {
			return
		}
		body, err := a.body()
		if err != nil || len(data)-len(body) != macSize || !bytes.Equal(body, data[:len(body)]) {
			t.Fatalf("%x decodes but does not re-encode: %v", data, err)
		}
	})
}

func FuzzParseChannelConsent(f *testing.F) {
	var vf inviteVectors
	testvec.Read(f, "invitation.json", &vf)
	f.Add([]byte(vf.Consent))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseChannelConsent(data)
		if err != nil {
			return
		}
		body, err := c.body()
		if err != nil || len(data)-len(body) != ed25519.SignatureSize || !bytes.Equal(body, data[:len(body)]) {
			t.Fatalf("%x parses but does not re-encode: %v", data, err)
		}
	})
}
