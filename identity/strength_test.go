package identity

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestCheckPassphrase(t *testing.T) {
	for _, p := range []string{
		"", "   ", "a", "Tr0ub4dor&3", // short
		"abcabcabcabcabc", "aaaaaaaaaaaaaaaaaaaaaaaa", // few different characters
		"201912251234", "0041 31 324 11 11", // only digits (and spaces)
		"correct horse battery staple", "Correct-Horse-Battery-Staple!", "password1234", "1qaz2wsx3edc", // common
	} {
		err := CheckPassphrase(p)
		if !errors.Is(err, ErrWeakPassphrase) {
			t.Errorf("%q: got %v, want ErrWeakPassphrase", p, err)
		}
	}
	for _, p := range []string{"amber tunnel quiet walnut", "brieftraeger demo passphrase", "Zürich–Bern 1848 Fähre", "k7#Qp2!xLm9z"} {
		if err := CheckPassphrase(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
}

func TestCheckPassphraseSaysWhy(t *testing.T) {
	for p, want := range map[string]string{
		"short":                        "5 characters, and at least 12",
		"abababababababab":             "only 2 different characters",
		"20191225123456":               "only digits",
		"correct horse battery staple": "common passphrases",
	} {
		if err := CheckPassphrase(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want it to say %q", p, err, want)
		}
	}
}

func TestCheckWorkFactor(t *testing.T) {
	for wf := 10; wf <= 22; wf++ {
		err := CheckWorkFactor(wf)
		if refused := errors.Is(err, ErrWeakWorkFactor); refused != (wf < MinWorkFactor) {
			t.Errorf("work factor %d: got %v", wf, err)
		}
	}
	if err := CheckWorkFactor(0); err != nil {
		t.Errorf("0 (the default) refused: %v", err)
	}
	if err := CheckWorkFactor(12); err == nil || !strings.Contains(err.Error(), "64x less") {
		t.Errorf("work factor 12: %v does not say what it costs", err)
	}
}

// TestOpenKeystoreWorkFactor: the work factor OpenKeystore reports is the
// one the file was sealed with, and a file whose stanza claims another does
// not open (the header MAC covers it).
func TestOpenKeystoreWorkFactor(t *testing.T) {
	ks, err := NewKeystore("washington", "laptop", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, wf := range []int{10, 11, 12} {
		sealed, err := ks.Seal("passphrase", wf)
		if err != nil {
			t.Fatal(err)
		}
		got, err := OpenKeystore(sealed, "passphrase")
		if err != nil {
			t.Fatal(err)
		}
		if got.WorkFactor != wf {
			t.Errorf("sealed at %d, opened reports %d", wf, got.WorkFactor)
		}
		claim := fmt.Sprintf(" %d\n", wf)
		for _, other := range []string{" 9\n", fmt.Sprintf(" %d\n", wf+1), " 010\n"} {
			bad := bytes.Replace(sealed, []byte(claim), []byte(other), 1)
			if _, err := OpenKeystore(bad, "passphrase"); err == nil {
				t.Errorf("sealed at %d, opened with the stanza claiming%q", wf, other)
			}
		}
	}
}

func TestReseal(t *testing.T) {
	ks, err := NewKeystore("washington", "laptop", true)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := ks.Reseal("amber tunnel quiet walnut", 11)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenKeystore(sealed, "amber tunnel quiet walnut")
	if err != nil || !sameKeys(got, ks) || got.WorkFactor != 11 {
		t.Fatalf("resealed keystore: %v, work factor %d", err, got.WorkFactor)
	}
	if _, err := ks.Reseal("p", 9); err == nil {
		t.Fatal("Reseal took work factor 9")
	}
}
