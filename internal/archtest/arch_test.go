package archtest

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Doc        string
	Deps       []string
}

// list runs 'go list' over the module and returns its packages.
func list(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json=ImportPath,Doc,Deps", "brieftraeger/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func TestEveryPackageHasDoc(t *testing.T) {
	for _, p := range list(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment", p.ImportPath)
		}
	}
}

// forbidden lists, for each package, module packages it must never depend
// on, directly or not.
var forbidden = map[string][]string{
	// The server has no code path that could open a letter.
	"brieftraeger/relay": {"brieftraeger/letter", "brieftraeger/client"},
	"brieftraeger/store": {"brieftraeger/letter", "brieftraeger/client", "brieftraeger/relay"},
	// The four bottom packages import nothing above them.
	"brieftraeger/identity": {"brieftraeger/envelope", "brieftraeger/letter", "brieftraeger/relay", "brieftraeger/store", "brieftraeger/client"},
	"brieftraeger/envelope": {"brieftraeger/letter", "brieftraeger/relay", "brieftraeger/store", "brieftraeger/client"},
	"brieftraeger/letter":   {"brieftraeger/relay", "brieftraeger/store", "brieftraeger/client"},
	"brieftraeger/tlog":     {"brieftraeger/letter", "brieftraeger/relay", "brieftraeger/store", "brieftraeger/client"},
	// A party's device does not link the relay's storage engine.
	"brieftraeger/client": {"brieftraeger/relay", "brieftraeger/store", "github.com/nats-io/nats-server/v2/server"},
}

func TestImportsPointOneWay(t *testing.T) {
	seen := 0
	for _, p := range list(t) {
		bad, ok := forbidden[p.ImportPath]
		if !ok {
			continue
		}
		seen++
		for _, b := range bad {
			if slices.Contains(p.Deps, b) {
				t.Errorf("%s depends on %s", p.ImportPath, b)
			}
		}
	}
	if seen != len(forbidden) {
		t.Fatalf("checked %d of %d packages", seen, len(forbidden))
	}
}
