package envelope

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"brieftraeger/identity"

	"brieftraeger/internal/testvec"
)

func testReceipt(kind Kind) *Receipt {
	r := &Receipt{Kind: kind, ID: ID{9, 8, 7}, Party: "tehran", Signer: "laptop",
		Time: time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC)}
	r.Envelope = identity.Hash(ContextEnvelopeHash, []byte("envelope"))
	if kind == Posted {
		r.Party, r.Signer, r.Seq = "bern", RelaySigner, 99
	}
	return r
}

func TestReceiptRoundTrip(t *testing.T) {
	for _, k := range []Kind{Posted, Delivered, Acknowledged} {
		r := testReceipt(k)
		if err := r.Sign(testvec.Key("k")); err != nil {
			t.Fatal(err)
		}
		got, err := ParseReceipt(r.Raw)
		if err != nil {
			t.Fatal(err)
		}
		if !receiptEqual(got, r) {
			t.Fatalf("%v: round trip changed the receipt:\n got %+v\nwant %+v", k, got, r)
		}
		if err := got.Verify(testvec.Pub("k")); err != nil {
			t.Fatal(err)
		}
		if err := got.Verify(testvec.Pub("j")); err == nil || !strings.Contains(err.Error(), "bad signature") {
			t.Fatalf("other key: %v", err)
		}
	}
	// Time has millisecond precision.
	r := testReceipt(Delivered)
	r.Time = r.Time.Add(999 * time.Microsecond)
	if err := r.Sign(testvec.Key("k")); err != nil {
		t.Fatal(err)
	}
	got, _ := ParseReceipt(r.Raw)
	if !got.Time.Equal(r.Time.Truncate(time.Millisecond)) {
		t.Fatalf("time %v, want %v", got.Time, r.Time.Truncate(time.Millisecond))
	}
}

// TestReceiptTamper flips every bit of a signed receipt: each must be
// refused by ParseReceipt or by Verify.
func TestReceiptTamper(t *testing.T) {
	for _, k := range []Kind{Posted, Delivered, Acknowledged} {
		r := testReceipt(k)
		if err := r.Sign(testvec.Key("k")); err != nil {
			t.Fatal(err)
		}
		for i := range r.Raw {
			for bit := range 8 {
				bad := bytes.Clone(r.Raw)
				bad[i] ^= 1 << bit
				if p, err := ParseReceipt(bad); err == nil && p.Verify(testvec.Pub("k")) == nil {
					t.Fatalf("%v: bit %d of byte %d flipped: receipt still verifies", k, bit, i)
				}
			}
		}
		for _, bad := range [][]byte{r.Raw[:len(r.Raw)-1], append(bytes.Clone(r.Raw), 0), nil, r.Sig} {
			if p, err := ParseReceipt(bad); err == nil && p.Verify(testvec.Pub("k")) == nil {
				t.Fatalf("%v: %d-byte variant verified", k, len(bad))
			}
		}
		// The same body signed under another context does not verify.
		body := r.Raw[:len(r.Raw)-64]
		for _, ctx := range []string{ContextEnvelope, identity.ContextRoster} {
			p, err := ParseReceipt(append(bytes.Clone(body), identity.Sign(testvec.Key("k"), ctx, body)...))
			if err != nil {
				t.Fatal(err)
			}
			if p.Verify(testvec.Pub("k")) == nil {
				t.Fatalf("signature under %q verified", ctx)
			}
		}
	}
}

func TestReceiptSignRefuses(t *testing.T) {
	for name, edit := range map[string]func(r *Receipt){
		"kind 0":       func(r *Receipt) { r.Kind = 0 },
		"kind 4":       func(r *Receipt) { r.Kind = 4 },
		"bad party":    func(r *Receipt) { r.Party = "Tehran" },
		"empty signer": func(r *Receipt) { r.Signer = "" },
		"no time":      func(r *Receipt) { r.Time = time.Time{} },
		"epoch time":   func(r *Receipt) { r.Time = time.UnixMilli(0) },
		"before 1970":  func(r *Receipt) { r.Time = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) },
		// Sign used to accept times that ParseReceipt refuses.
		"after 2^50 ms": func(r *Receipt) { r.Time = time.UnixMilli(1<<50 + 1) },
	} {
		r := testReceipt(Delivered)
		edit(r)
		if err := r.Sign(testvec.Key("k")); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
	r := testReceipt(Delivered)
	r.Time = time.UnixMilli(1 << 50)
	if err := r.Sign(testvec.Key("k")); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseReceipt(r.Raw); err != nil {
		t.Fatalf("Sign made a receipt that ParseReceipt refuses: %v", err)
	}
}

func TestParseReceiptRefuses(t *testing.T) {
	r := testReceipt(Delivered)
	if err := r.Sign(testvec.Key("k")); err != nil {
		t.Fatal(err)
	}
	body := r.Raw[:len(r.Raw)-64]
	resign := func(b []byte) []byte { return append(b, identity.Sign(testvec.Key("k"), ContextReceipt, b)...) }
	for name, raw := range map[string][]byte{
		"empty":         nil,
		"too long":      append(bytes.Clone(r.Raw), make([]byte, MaxReceiptLen)...),
		"version 2":     resign(append([]byte{2}, body[1:]...)),
		"trailing byte": resign(append(bytes.Clone(body), 0)),
		"truncated":     resign(bytes.Clone(body[:len(body)-1])),
	} {
		if _, err := ParseReceipt(raw); err == nil {
			t.Errorf("%s: parsed", name)
		} else if !strings.HasPrefix(err.Error(), "malformed receipt") {
			t.Errorf("%s: error %q lacks the prefix", name, err)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{0: "Kind(0)", Posted: "posted", Delivered: "delivered", Acknowledged: "acknowledged", 4: "Kind(4)"} {
		if k.String() != want {
			t.Errorf("Kind(%d).String() = %q", k, k)
		}
	}
}

// TestContextsDocumented checks this package's contexts against the rules in
// docs/PROTOCOL.md and that the document lists each one.
func TestContextsDocumented(t *testing.T) {
	doc := readDoc(t)
	all := []string{ContextEnvelope, ContextEnvelopeHash, ContextCiphertext, ContextReceipt,
		identity.ContextRoster, identity.ContextRosterHash, identity.ContextFingerprint, identity.ContextSafetyNumber}
	seen := map[string]bool{}
	for _, c := range all {
		if seen[c] {
			t.Errorf("context %q is used twice", c)
		}
		seen[c] = true
		if !strings.HasPrefix(c, "brieftraeger/v1 ") || strings.ContainsAny(c, "\n\x00") {
			t.Errorf("context %q breaks the rules", c)
		}
	}
	for _, c := range all[:4] {
		if !strings.Contains(doc, "`"+c+"`") {
			t.Errorf("docs/PROTOCOL.md does not list context %q", c)
		}
	}
}
