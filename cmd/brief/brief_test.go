package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/internal/testrelay"
	"brieftraeger/letter"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"brief": main, "webhook-receiver": webhookReceiver, "hostile-relay": hostileRelay})
}

// TestScripts drives the real brief binary, with a real relay process,
// through the scripts in testdata/script.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("BRIEF_PASSPHRASE", testrelay.Passphrase)
			env.Setenv("BRIEF_TEST_WEAK_KEYS", "1") // the scripts seal with --work-factor 10
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitfile":    cmdWaitFile,
			"setjson":     cmdSetJSON,
			"noplaintext": cmdNoPlaintext,
			"mkfile":      cmdMkfile,
			"freeport":    cmdFreePort,
			"waitmatch":   cmdWaitMatch,
			"stockage":    cmdStockAge,
			"craftletter": cmdCraftLetter,
			"exits":       cmdExits,
			"sqlexec":     cmdSQLExec,
			"waitrecord":  cmdWaitRecord,
		},
	})
}

// waitfile FILE VAR: wait up to 30 s for FILE to hold a line, and set VAR
// to it.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitfile FILE VAR")
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(ts.MkAbs(args[0]))
		if line := strings.TrimSpace(string(b)); err == nil && line != "" && bytes.HasSuffix(b, []byte("\n")) {
			ts.Setenv(args[1], line)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("%s did not appear within 30 s", args[0])
}

// setjson VAR FILE FIELD: set VAR to a top-level string field of the JSON
// object in FILE.
func cmdSetJSON(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: setjson VAR FILE FIELD")
	}
	var m map[string]any
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[1])), &m))
	v, ok := m[args[2]].(string)
	if !ok {
		ts.Fatalf("%s has no string field %q", args[1], args[2])
	}
	ts.Setenv(args[0], v)
}

// noplaintext DIR MARKER: fail if any file under DIR contains MARKER.
// With !, fail unless some file does (the check of the check).
func cmdNoPlaintext(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: noplaintext DIR MARKER")
	}
	var found []string
	files := 0
	// The relay may still be running: files it creates and deletes
	// meanwhile (JetStream's batch staging) are skipped.
	err := filepath.WalkDir(ts.MkAbs(args[0]), func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		files++
		if err == nil && bytes.Contains(b, []byte(args[1])) {
			found = append(found, path)
		}
		return err
	})
	ts.Check(err)
	if files == 0 {
		ts.Fatalf("no files under %s", args[0])
	}
	if !neg && len(found) > 0 {
		ts.Fatalf("plaintext marker found in %v", found)
	}
	if neg && len(found) == 0 {
		ts.Fatalf("marker not found under %s", args[0])
	}
}

// mkfile FILE SIZE-MIB: write a file of SIZE-MIB mebibytes of a pattern.
func cmdMkfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mkfile FILE MIB")
	}
	f, err := os.Create(ts.MkAbs(args[0]))
	ts.Check(err)
	defer f.Close()
	chunk := bytes.Repeat([]byte("brieftraeger attachment "), 1<<16/24+1)[:1<<16]
	n := 0
	for _, c := range args[1] {
		n = n*10 + int(c-'0')
	}
	for range n * 16 {
		_, err := f.Write(chunk)
		ts.Check(err)
	}
}

// waitmatch FILE REGEXP: wait up to 30 s for a line of FILE to match
// REGEXP.
func cmdWaitMatch(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitmatch FILE REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(ts.MkAbs(args[0])); err == nil && re.Match(b) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("no line of %s matched %s within 30 s", args[0], args[1])
}

// webhookReceiver is the test command "webhook-receiver ADDRFILE OUTFILE":
// it serves HTTP on 127.0.0.1, appends the body of each POST as one line to
// OUTFILE, writes its address to ADDRFILE once listening, and exits on
// SIGINT.
func webhookReceiver() {
	if len(os.Args) != 3 {
		log.Fatal("usage: webhook-receiver ADDRFILE OUTFILE")
	}
	out, err := os.OpenFile(os.Args[2], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || err != nil {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		out.Write(append(bytes.TrimSpace(body), '\n'))
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	serveUntilInterrupt(srv, ln, os.Args[1])
}

// serveUntilInterrupt writes ln's address to addrFile, and serves srv on
// ln until SIGINT.
func serveUntilInterrupt(srv *http.Server, ln net.Listener, addrFile string) {
	if err := os.WriteFile(addrFile, []byte(ln.Addr().String()+"\n"), 0o600); err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// freeport VAR: set VAR to a TCP port that is free on 127.0.0.1 now.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	defer ln.Close()
	ts.Setenv(args[0], strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
}

// stockage FILE: build the stock age CLI of the age module this module
// depends on into FILE.
func cmdStockAge(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: stockage FILE")
	}
	out, err := exec.Command("go", "build", "-o", ts.MkAbs(args[0]), "filippo.io/age/cmd/age").CombinedOutput()
	if err != nil {
		ts.Fatalf("go build filippo.io/age/cmd/age: %v\n%s", err, out)
	}
}

// craftletter DIR TO MEDIATYPE VAR: send from the party in DIR to TO a
// FLASH letter (subject ULTIMATUM-7f3a, body MARKER-BODY-7f3a) whose one
// attachment, part.json, is a valid heartbeat or test letter part of
// MEDIATYPE, as no brief command would; set VAR to its id.
func cmdCraftLetter(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: craftletter DIR TO MEDIATYPE VAR")
	}
	p, err := client.Load(ts.MkAbs(args[0]), ts.Getenv("BRIEF_PASSPHRASE"), client.Options{})
	ts.Check(err)
	defer p.Close()
	data := []byte(`{"sent_at":"` + time.Now().UTC().Format(time.RFC3339) + `","interval_s":60,"nonce":"00112233445566778899aabbccddeeff"}`)
	sent, _, err := p.Send(context.Background(), client.Outgoing{To: args[1], Subject: "ULTIMATUM-7f3a", Precedence: envelope.Flash,
		Body: []byte("MARKER-BODY-7f3a\n"), Attachments: []letter.Attachment{{Name: "part.json", MediaType: args[2], Size: int64(len(data)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}}})
	ts.Check(err)
	ts.Setenv(args[3], sent.ID)
}
