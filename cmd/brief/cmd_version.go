package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

// version is brief's release, set at build time with
// -ldflags "-X main.version=v1.2.3"; empty, the module's version from the
// build information stands in.
var version string

// versionInfo is what 'brief version' prints.
type versionInfo struct {
	Version   string `json:"version"`
	Module    string `json:"module,omitempty"`
	GoVersion string `json:"go_version,omitempty"`
	Revision  string `json:"vcs_revision,omitempty"`
	Time      string `json:"vcs_time,omitempty"`
	Modified  *bool  `json:"vcs_modified,omitempty"`
}

// buildVersion returns brief's version and what the Go toolchain recorded
// of the build: module, Go version and, when built from a checkout, the
// revision, its time and whether the tree had uncommitted changes.
func buildVersion(bi *debug.BuildInfo, ok bool) versionInfo {
	v := versionInfo{Version: version}
	if !ok {
		if v.Version == "" {
			v.Version = "unknown"
		}
		return v
	}
	v.Module, v.GoVersion = bi.Main.Path, bi.GoVersion
	if v.Version == "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			m := s.Value == "true"
			v.Modified = &m
		}
	}
	return v
}

func cmdVersion(_ context.Context, e *env, args []string) error {
	fs := flags(e, "version", "version [--json]  (or brief --version)")
	asJSON := fs.Bool("json", false, "print the version as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("", "version takes no arguments")
	}
	v := buildVersion(debug.ReadBuildInfo())
	if *asJSON {
		return printJSON(e.stdout, v)
	}
	fmt.Fprintf(e.stdout, "brief %s\n", v.Version)
	for _, l := range []struct{ name, value string }{{"module", v.Module}, {"go", v.GoVersion}, {"revision", v.Revision}, {"time", v.Time}} {
		if l.value != "" {
			fmt.Fprintf(e.stdout, "%-9s %s\n", l.name+":", l.value)
		}
	}
	if v.Modified != nil {
		fmt.Fprintf(e.stdout, "%-9s %v\n", "modified:", *v.Modified)
	}
	return nil
}
