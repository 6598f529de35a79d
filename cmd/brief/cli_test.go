package main

import (
	"crypto/tls"
	"errors"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// The test commands of testdata/script/cli.txtar.

// exits CODE[,CODE...] COMMAND ARGS...: run COMMAND and fail unless it
// exits with status CODE (one of them); its stdout and stderr are then
// checked as exec's.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE[,CODE...] COMMAND ARGS...")
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if !slices.Contains(strings.Split(args[0], ","), strconv.Itoa(got)) {
		ts.Fatalf("%s exited with status %d, want %s", args[1], got, args[0])
	}
}

// hostileRelay is the test command "hostile-relay RELAYDIR ADDRFILE": a
// relay that lies, serving HTTPS on 127.0.0.1 with the certificate of the
// relay in RELAYDIR (so that the parties' pin matches). It lists two mailbox
// entries (one of them with a valid id), a channel and overdue letters,
// serves metrics, and refuses every other request, with terminal escapes
// and a forged line in every field. It writes its address to ADDRFILE once
// listening, and exits on SIGINT.
func hostileRelay() {
	if len(os.Args) != 3 {
		log.Fatal("usage: hostile-relay RELAYDIR ADDRFILE")
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(os.Args[1], "tls-cert.pem"), filepath.Join(os.Args[1], "tls-key.pem"))
	if err != nil {
		log.Fatal(err)
	}
	const evil = `\u001b[2J\u001b[31mred\nbrief: hint: forged`
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/mailbox":
			w.Write([]byte(`[{"id":"id` + evil + `","from":"from` + evil + `","precedence":"prec` + evil + `","size":1,"seq":1,"posted_at_ms":0},
				{"id":"0123456789abcdef0123456789abcdef","from":"eve","precedence":"FLASH","size":1,"seq":2,"posted_at_ms":0}]`))
			return
		case "/v1/admin/channels":
			w.Write([]byte(`[{"a":"a` + evil + `","b":"b` + evil + `","light":"light` + evil + `","overdue_a_to_b":1,"overdue_b_to_a":0}]`))
			return
		case "/v1/admin/overdue":
			w.Write([]byte(`[{"from":"from` + evil + `","to":"to` + evil + `","precedence":"prec` + evil + `","count":1,
				"oldest_posted_at":"2026-01-01T00:00:00Z","oldest_due":"2026-01-01T00:10:00Z"}]`))
			return
		case "/metrics":
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("brief_up 1\n# \x1b[2Jforged\n"))
			return
		}
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"code":"code` + evil + `","error":"message` + evil + `"}`))
	})}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert})
	if err != nil {
		log.Fatal(err)
	}
	serveUntilInterrupt(srv, ln, os.Args[2])
}
