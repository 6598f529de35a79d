package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// FuzzFlagsAnywhere parses any arguments as a command's flags would be:
// no panic, and what comes back as positional arguments is the arguments'
// own, in their order.
func FuzzFlagsAnywhere(f *testing.F) {
	for _, s := range []string{"ID\x00--dir\x00teh", "--dir\x00teh\x00ID", "--\x00--dir", "--dir", "-json\x00a\x00b", "--dir=x\x00--json=false\x00y", "-\x00--\x00-x", "--body\x00-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		var stderr bytes.Buffer
		fs := flags(&env{stderr: &stderr}, "test", "test")
		dir := fs.String("dir", "", "")
		fs.Bool("json", false, "")
		fs.String("body", "", "")
		if err := fs.Parse(args); err != nil {
			return
		}
		rest := fs.Args()
		for _, a := range rest {
			i := slices.Index(args, a)
			if i < 0 {
				t.Fatalf("positional %q is not among the arguments %q", a, args)
			}
			args = args[i+1:]
		}
		_ = *dir
	})
}
