package identity

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"

	"brieftraeger/internal/testvec"
)

type joinFile struct {
	Comment string       `json:"comment"`
	Vectors []joinVector `json:"vectors"`
}

type joinVector struct {
	Party     string           `json:"party"`
	Device    string           `json:"device"`
	SignSeed  testvec.HexBytes `json:"sign_seed"`
	Key       testvec.HexBytes `json:"key"`
	Recipient string           `json:"recipient"`
	Signature testvec.HexBytes `json:"signature"`
	Encoding  testvec.HexBytes `json:"encoding"`
}

func testJoinKeystore(t testing.TB, party, device string) *Keystore {
	ids := testAgeKeys(t, party+"-"+device)
	return &Keystore{Party: party, Device: device, Sign: testvec.Key(party + "-" + device), Age: ids[party+"-"+device]}
}

func genJoinVectors(t testing.TB) joinFile {
	f := joinFile{Comment: "Join requests of new devices. See docs/PROTOCOL.md, section Join request. " +
		"Signing seeds are SHA-256(\"brieftraeger test seed \" || party-device); age identities are in age-keys.json."}
	for _, pd := range [][2]string{{"washington", "terminal"}, {"tehran", "duty-2"}} {
		ks := testJoinKeystore(t, pd[0], pd[1])
		jr, err := SignJoinRequest(ks)
		if err != nil {
			t.Fatal(err)
		}
		f.Vectors = append(f.Vectors, joinVector{Party: pd[0], Device: pd[1], SignSeed: testvec.Seed(pd[0] + "-" + pd[1]),
			Key: testvec.HexBytes(jr.Device.Key), Recipient: jr.Device.Recipient,
			Signature: jr.Raw[len(jr.Raw)-ed25519.SignatureSize:], Encoding: jr.Raw})
	}
	return f
}

// specJoinBody encodes a join request body from docs/PROTOCOL.md.
func specJoinBody(v joinVector) []byte {
	b := []byte{JoinRequestVersion}
	b = specStr8(b, v.Party)
	b = specStr8(b, v.Device)
	b = append(b, v.Key...)
	return specStr16(b, v.Recipient)
}

func TestJoinRequestVectors(t *testing.T) {
	testvec.Sync(t, "join-request.json", genJoinVectors(t))
	var f joinFile
	testvec.Read(t, "join-request.json", &f)
	if len(f.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range f.Vectors {
		body := specJoinBody(v)
		if !bytes.Equal(append(body, v.Signature...), v.Encoding) {
			t.Errorf("%s/%s: encoding differs from the layout in PROTOCOL.md", v.Party, v.Device)
		}
		if !bytes.Equal(testvec.SpecSign(ed25519.NewKeyFromSeed(v.SignSeed), ContextJoinRequest, body), v.Signature) {
			t.Errorf("%s/%s: signature differs from one made as PROTOCOL.md says", v.Party, v.Device)
		}
		jr, err := ParseJoinRequest(v.Encoding)
		if err != nil {
			t.Fatalf("%s/%s: %v", v.Party, v.Device, err)
		}
		if jr.Party != v.Party || jr.Device.Name != v.Device || !bytes.Equal(jr.Device.Key, v.Key) || jr.Device.Recipient != v.Recipient {
			t.Errorf("%s/%s: parsed as %+v", v.Party, v.Device, jr)
		}
	}
}

// Every byte of a join request is covered by its signature or its form:
// changing any one is refused.
func TestJoinRequestTamper(t *testing.T) {
	jr, err := SignJoinRequest(testJoinKeystore(t, "washington", "terminal"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range jr.Raw {
		bad := bytes.Clone(jr.Raw)
		bad[i] ^= 0x01
		if _, err := ParseJoinRequest(bad); err == nil {
			t.Fatalf("flipping byte %d was accepted", i)
		}
	}
	// Signed by another key than the one it names.
	other := testJoinKeystore(t, "washington", "terminal")
	other.Sign = testvec.Key("mallory")
	forged, err := SignJoinRequest(other)
	if err != nil {
		t.Fatal(err)
	}
	n := len(forged.Raw) - ed25519.SignatureSize
	mixed := append(bytes.Clone(jr.Raw[:n]), forged.Raw[n:]...)
	if _, err := ParseJoinRequest(mixed); err == nil || !strings.Contains(err.Error(), "bad signature") {
		t.Fatalf("a signature by another key: %v", err)
	}
	for _, bad := range [][]byte{nil, jr.Raw[:10], append(bytes.Clone(jr.Raw), 0)} {
		if _, err := ParseJoinRequest(bad); err == nil {
			t.Fatalf("accepted %d bytes", len(bad))
		}
	}
}

// FuzzParseJoinRequest parses arbitrary bytes as a join request: whatever
// parses must carry a valid signature by the key it names and re-encode to
// exactly its input.
func FuzzParseJoinRequest(f *testing.F) {
	var vf joinFile
	testvec.Read(f, "join-request.json", &vf)
	for _, v := range vf.Vectors {
		f.Add([]byte(v.Encoding))
	}
	f.Add([]byte{})
	f.Add(append([]byte{JoinRequestVersion}, make([]byte, 100)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		jr, err := ParseJoinRequest(data)
		if err != nil {
			return
		}
		body, err := joinBody(jr.Party, jr.Device)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(append(body, data[len(body):]...), data) || len(data)-len(body) != ed25519.SignatureSize {
			t.Fatal("a parsed join request does not re-encode to its input")
		}
		if !Verify(jr.Device.Key, ContextJoinRequest, body, data[len(body):]) {
			t.Fatal("accepted a join request without a valid signature")
		}
	})
}
