package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/term"

	"brieftraeger/client"
	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/store"
)

// report prints err as "brief: …" lines with hints where one helps. What
// the relay said is escaped like text from another party (printable): a
// relay cannot forge lines of brief's own output.
func report(w io.Writer, err error) {
	msg := err.Error()
	var re *client.RelayError
	if errors.As(err, &re) {
		for _, s := range []string{re.Message, re.Code} {
			if s != "" {
				msg = strings.ReplaceAll(msg, s, printable(s, false))
			}
		}
	}
	for _, line := range strings.Split(msg, "\n") {
		fmt.Fprintf(w, "brief: %s\n", printable(line, false))
	}
	for _, h := range hints(err) {
		fmt.Fprintf(w, "brief: hint: %s\n", printable(h, false))
	}
}

func hints(err error) []string {
	var u *usageError
	var re *client.RelayError
	var ue *client.UnreachableError
	switch {
	case errors.As(err, &u):
		if u.hint != "" {
			return []string{u.hint}
		}
	case errors.Is(err, identity.ErrWrongPassphrase):
		return []string{"check BRIEF_PASSPHRASE, or unset it to be asked on the terminal"}
	case errors.Is(err, identity.ErrWeakPassphrase):
		return []string{"use four or more random words, e.g. picked with dice from a word list"}
	case errors.Is(err, identity.ErrWeakWorkFactor):
		return []string{fmt.Sprintf("leave out --work-factor for the default %d, or give at least %d on a slow device", identity.DefaultWorkFactor, identity.WarnWorkFactor)}
	case errors.As(err, new(*client.ReaderBusyError)):
		return []string{"it opens letters as they come: see them with 'brief list' and 'brief pending', and acknowledge with 'brief ack ID'"}
	case errors.Is(err, client.ErrJoinPending):
		return []string{"finish the join with 'brief party device finish ADMISSION', with the admission a device holding the root key made by 'brief party device add'"}
	case errors.Is(err, client.ErrNoRootKey):
		return []string{"roster changes are signed by the root key: run this on the device that holds it"}
	case errors.Is(err, client.ErrDeviceRemoved):
		return []string{"a device removed from the roster can no longer send or receive for the party"}
	case errors.Is(err, client.ErrNoParty):
		return []string{"create one with 'brief party init', or point --dir (or BRIEF_DIR) at a party folder"}
	case errors.Is(err, store.ErrTooFewServers):
		return []string{"the NATS cluster has fewer servers with JetStream than the relay asks replicas of; pass --replicas with at most their number"}
	case errors.As(err, &ue) && len(ue.URLs) > 1:
		return []string{"none of the relay's nodes (" + strings.Join(ue.URLs, ", ") + ") answered: are they running, and are these their addresses?"}
	case errors.As(err, &ue) && len(ue.URLs) == 1:
		return []string{"the relay at " + ue.URLs[0] + " did not answer: is it running, and is this its address?"}
	case errors.Is(err, client.ErrUnknownContact):
		return []string{"get the party's fingerprint out of band (they run 'brief party show') and run 'brief contact add PARTY FINGERPRINT'"}
	case errors.As(err, &re):
		switch re.Code {
		case api.CodeNoChannel:
			return []string{"ask the relay operator to open the channel: 'brief relay channel A B'"}
		case api.CodeUnknownParty:
			return []string{"the relay operator admits a party with 'brief relay admit ROSTER'"}
		case api.CodeNotOnRoster:
			return []string{"the relay's roster of this party does not name this device: it was removed ('brief party device list' on another device shows the roster), or the roster that names it never reached the relay"}
		case api.CodeEpoch:
			return []string{"the letter was sealed to an epoch key the recipient no longer has; this device has followed their roster again: send the letter again"}
		case api.CodeStorageFull:
			return []string{"the relay is out of disk space: it refuses new letters but still delivers those it holds; try again later, or tell the relay operator"}
		case api.CodeUnavailable:
			return []string{"the relay's storage is not answering; try again in a minute, or tell the relay operator"}
		}
	}
	return nil
}

func sorted(s []string) []string { slices.Sort(s); return s }

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// partyDir returns --dir, or BRIEF_DIR.
func partyDir(e *env, dir string) (string, error) {
	if dir == "" {
		dir = e.getenv("BRIEF_DIR")
	}
	if dir == "" {
		return "", usagef("pass --dir or set BRIEF_DIR to the party's folder", "no party folder given")
	}
	return dir, nil
}

// passphrase returns BRIEF_PASSPHRASE, or asks on the terminal (twice if
// confirm).
func passphrase(e *env, confirm bool) (string, error) {
	return askSecret(e, "BRIEF_PASSPHRASE", "Passphrase", confirm)
}

// askSecret returns the environment variable name, or asks on the
// terminal with prompt (twice if confirm).
func askSecret(e *env, name, prompt string, confirm bool) (string, error) {
	if p := e.getenv(name); p != "" {
		return p, nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", usagef("set "+name+" when there is no terminal", "no terminal to ask for the passphrase")
	}
	defer tty.Close()
	ask := func(prompt string) (string, error) {
		fmt.Fprint(tty, prompt)
		b, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		return string(b), err
	}
	p, err := ask(prompt + ": ")
	if err != nil {
		return "", fmt.Errorf("failed to read passphrase: %w", err)
	}
	if confirm {
		again, err := ask(prompt + " again: ")
		if err != nil {
			return "", fmt.Errorf("failed to read passphrase: %w", err)
		}
		if again != p {
			return "", errors.New("the passphrases do not match")
		}
	}
	if strings.TrimSpace(p) == "" {
		return "", errors.New("the passphrase is empty")
	}
	return p, nil
}

// outsideSource refuses a folder for private keys that is inside a Go
// module's source tree (a go.mod in it or above it), where 'git add -A'
// would take the keys with the code.
func outsideSource(what, dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return usagef("keep keys out of source trees: give a folder elsewhere, e.g. $HOME/brief-demo/"+filepath.Base(abs),
				"%s %s is inside the Go module at %s, where its private keys could be committed with the code", what, dir, d)
		}
		if filepath.Dir(d) == d {
			return nil
		}
	}
}

// loadParty opens the party folder given by --dir or BRIEF_DIR.
func loadParty(e *env, dir string) (*client.Party, error) {
	dir, err := partyDir(e, dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "keys.age")); err != nil {
		if _, err := os.Stat(filepath.Join(dir, "join.age")); err == nil {
			return nil, fmt.Errorf("%w: %s", client.ErrJoinPending, dir)
		}
		return nil, fmt.Errorf("%w: %s", client.ErrNoParty, dir)
	}
	pass, err := passphrase(e, false)
	if err != nil {
		return nil, err
	}
	return client.Load(dir, pass, client.Options{})
}

// partyFlags are the flags of every command that acts as a party's device:
// --dir and --json, plus the command's own.
type partyFlags struct {
	*flagSet
	dir    *string
	asJSON *bool
}

func newPartyFlags(e *env, name, usage string) *partyFlags {
	fs := flags(e, name, usage)
	return &partyFlags{flagSet: fs,
		dir:    fs.String("dir", "", "the party's `folder`; default BRIEF_DIR"),
		asJSON: fs.Bool("json", false, "print the result as JSON")}
}

// load parses args and opens the party; the caller closes it.
func (pf *partyFlags) load(e *env, args []string) (*client.Party, error) {
	if err := pf.Parse(args); err != nil {
		return nil, err
	}
	return loadParty(e, *pf.dir)
}

// printable makes text from another party safe to print on a terminal:
// control characters (escape sequences among them) and invalid UTF-8 are
// shown quoted, so that a letter cannot forge lines of brief's own output.
// Newlines and tabs are kept when multiline.
func printable(s string, multiline bool) string {
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, "\\x%02x", s[0])
		case multiline && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029':
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
		s = s[size:]
	}
	return b.String()
}
