// Command brief is Brieftraeger's one binary: the relay operator's tools,
// a party's device, and the demo. It parses flags, calls the packages and
// prints; the logic lives in the packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// env is what a command may touch: its streams and the environment.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"demo", "run a relay and two parties in one process and send a letter", cmdDemo},
		{"relay", "operate a relay: init, run, admit, channel, channels, invitations, overdue, metrics, admin-cert", cmdRelay},
		{"party", "set up this device's party: init, show, passphrase, export-key, device, root, epoch", cmdParty},
		{"contact", "pin another party's root key and verify it: add, verify, show, list", cmdContact},
		{"invite", "open a channel by invitation with a one-time code: create, accept, status", cmdInvite},
		{"send", "seal and post a letter", cmdSend},
		{"outbox", "list letters waiting to be posted, or post them now: retry", cmdOutbox},
		{"inbox", "list letters waiting at the relay", cmdInbox},
		{"read", "fetch, open and verify letters, and send delivered receipts", cmdRead},
		{"ack", "send the acknowledged receipt for a letter you read", cmdAck},
		{"pending", "list letters opened and not yet acknowledged, against their deadlines", cmdPending},
		{"list", "list and search the letters sent and opened on this device", cmdList},
		{"show", "show a letter sent or opened: header, text, receipts, log records", cmdShow},
		{"reply", "answer a letter in its thread", cmdReply},
		{"receipts", "collect and verify receipts for letters you sent", cmdReceipts},
		{"export", "write a letter for the record: sealed letter, envelope, receipts, log proofs, summary", cmdExport},
		{"status", "show each channel's light from its heartbeats (green, amber or red) and its test letters", cmdStatus},
		{"watch", "stay connected: read letters as they come, send heartbeats and test letters, raise alarms", cmdWatch},
		{"log", "check the relay's log: its checkpoint and your sent letters' records", cmdLog},
		{"audit", "fetch the whole log, recompute it, and look up every local record", cmdAudit},
		{"version", "print brief's version and build information", cmdVersion},
		{"help", "show help for a command", nil},
	}
}

func main() {
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, e, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		return help(e, args)
	}
	if args[0] == "-version" || args[0] == "--version" {
		args = append([]string{"version"}, args[1:]...)
	}
	for _, c := range commands() {
		if c.name == args[0] && c.run != nil {
			err := c.run(ctx, e, args[1:])
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			if err != nil {
				report(e.stderr, err)
				return exitCode(err)
			}
			return 0
		}
	}
	fmt.Fprintf(e.stderr, "brief: unknown command %q\nbrief: hint: run 'brief help' for the list of commands\n", args[0])
	return 2
}

func help(e *env, args []string) int {
	if len(args) > 1 {
		for _, c := range commands() {
			if c.name == args[1] && c.run != nil {
				c.run(context.Background(), e, append(args[2:], "-h"))
				return 0
			}
		}
		fmt.Fprintf(e.stderr, "brief: unknown command %q\nbrief: hint: run 'brief help' for the list of commands\n", args[1])
		return 2
	}
	fmt.Fprint(e.stdout, "brief: Brieftraeger, a back-channel whose relay cannot read the letters it carries\n\nUsage: brief <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(e.stdout, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(e.stdout, `
Every command that prints data takes --json, but relay metrics, which prints
the Prometheus text format. A party's folder is given with --dir or
BRIEF_DIR; its keystore passphrase is read from BRIEF_PASSPHRASE or asked
for on the terminal.

Flags may come before or after a command's arguments; '--' ends the flags.

Exit status: 0 when the command did what it was asked; 1 when it failed
(the message says why); 2 when it was called wrongly (an unknown command or
flag, a missing argument); 3 when a check ran and found a fault: status (a
channel is red, or with --wait not every channel turned green in time),
audit (verdict FAILED), log --wait (a record is still not in the relay's
log).

Run 'brief help <command> [<subcommand>]' or 'brief <command> -h' for the flags.
`)
	return 0
}

// flagSet is a command's flags. Its Parse takes flags after the
// positional arguments too.
type flagSet struct{ *flag.FlagSet }

// flags returns a flagSet for a command whose usage goes to e.stderr.
func flags(e *env, name, usage string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The flag package's own error line goes nowhere: the error comes back
	// from Parse and is printed as "brief: ...", after the usage.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: brief %s\n\nFlags:\n", usage)
		fs.SetOutput(e.stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return &flagSet{fs}
}

// Parse parses args, flags anywhere among the positional arguments, up to
// a "--": "ack ID --dir teh" is "ack --dir teh ID". A mistake in the flags
// is a usage error.
func (fs *flagSet) Parse(args []string) error {
	var flagArgs, positional []string
	dangling := false // the last flag lacks its value
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			positional = append(positional, args[i+1:]...)
			i = len(args)
		case len(a) < 2 || a[0] != '-':
			positional = append(positional, a)
		default:
			flagArgs = append(flagArgs, a)
			if fs.takesValue(a) {
				if dangling = i+1 == len(args); !dangling {
					i++
					flagArgs = append(flagArgs, args[i])
				}
			}
		}
	}
	if !dangling {
		flagArgs = append(append(flagArgs, "--"), positional...)
	}
	err := fs.FlagSet.Parse(flagArgs)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return usagef("run 'brief help "+fs.Name()+"' for the flags", "%v", err)
	}
	return err
}

// takesValue reports whether the flag argument a ("-name" or "--name",
// without "=value") names a flag that takes the next argument as its value.
func (fs *flagSet) takesValue(a string) bool {
	name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	if strings.Contains(name, "=") {
		return false
	}
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

// given reports whether the flag name was set on the command line, even
// to its default.
func (fs *flagSet) given(name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// usageError is a mistake in how a command was called.
type usageError struct{ msg, hint string }

func (u *usageError) Error() string { return u.msg }

// checkFailed is the error of a check that ran and found a fault: brief
// exits with status 3.
type checkFailed struct{ error }

func (c checkFailed) Unwrap() error { return c.error }

// exitCode is brief's exit status for err: 2 for a usage error, 3 for a
// failed check, else 1.
func exitCode(err error) int {
	var u *usageError
	var c checkFailed
	switch {
	case errors.As(err, &u):
		return 2
	case errors.As(err, &c):
		return 3
	}
	return 1
}

func usagef(hint, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), hint: hint}
}

// subcommand dispatches "brief GROUP SUB ..." to one of subs.
func subcommand(ctx context.Context, e *env, group string, args []string, subs map[string]func(context.Context, *env, []string) error) error {
	names := make([]string, 0, len(subs))
	for n := range subs {
		names = append(names, n)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(e.stderr, "Usage: brief %s <%s> [flags]\n", group, strings.Join(sorted(names), "|"))
		if len(args) == 0 {
			return usagef("run 'brief help' for the commands", "%s needs a subcommand", group)
		}
		return flag.ErrHelp
	}
	f, ok := subs[args[0]]
	if !ok {
		return usagef("run 'brief "+group+" -h'", "unknown subcommand %q of %s", args[0], group)
	}
	return f(ctx, e, args[1:])
}
