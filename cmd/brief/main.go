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
		{"relay", "operate a relay: init, run, admit, channel, channels, overdue, metrics, admin-cert", cmdRelay},
		{"party", "set up this device's party: init, show, export-key", cmdParty},
		{"contact", "pin another party's root key: add", cmdContact},
		{"send", "seal and post a letter", cmdSend},
		{"outbox", "list letters waiting to be posted, or post them now: retry", cmdOutbox},
		{"inbox", "list letters waiting at the relay", cmdInbox},
		{"read", "fetch, open and verify letters, and send delivered receipts", cmdRead},
		{"ack", "send the acknowledged receipt for a letter you read", cmdAck},
		{"receipts", "collect and verify receipts for letters you sent", cmdReceipts},
		{"export", "write a letter for the record: sealed letter, envelope, receipts, log proofs, summary", cmdExport},
		{"status", "show each channel's light from its heartbeats (green, amber or red) and its test letters", cmdStatus},
		{"watch", "stay connected: read letters as they come, send heartbeats and test letters, raise alarms", cmdWatch},
		{"log", "check the relay's log: its checkpoint and your sent letters' records", cmdLog},
		{"audit", "fetch the whole log, recompute it, and look up every local record", cmdAudit},
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
	for _, c := range commands() {
		if c.name == args[0] && c.run != nil {
			err := c.run(ctx, e, args[1:])
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			if err != nil {
				report(e.stderr, err)
				return 1
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

Run 'brief help <command> [<subcommand>]' or 'brief <command> -h' for the flags.
`)
	return 0
}

// flags returns a FlagSet for a command whose usage goes to e.stderr.
func flags(e *env, name, usage string) *flag.FlagSet {
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
	return fs
}

// usageError is a mistake in how a command was called.
type usageError struct{ msg, hint string }

func (u *usageError) Error() string { return u.msg }

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
