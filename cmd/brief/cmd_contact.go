package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"brieftraeger/client"
	"brieftraeger/identity"
)

func cmdContact(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "contact", args, map[string]func(context.Context, *env, []string) error{
		"add": contactAdd, "verify": contactVerify, "show": contactShow, "list": contactList,
	})
}

func contactAdd(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "contact add", "contact add [--dir DIR] [--json] PARTY FINGERPRINT|ROOTKEY")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if fs.NArg() != 2 {
		return usagef("give the fingerprint the other party read to you (or their root key), as 'brief party show' prints it for them",
			"contact add takes a party name and its root key's fingerprint or the key")
	}
	pin, err := identity.ParsePin(fs.Arg(1))
	if err != nil {
		return err
	}
	ros, err := p.AddContactPin(ctx, fs.Arg(0), pin)
	if err != nil {
		return err
	}
	// The root pinned is the first roster's; ros.Root is the one that
	// signs the next version, another after a rotation.
	info, err := p.ContactInfo(ros.Party)
	if err != nil {
		return err
	}
	if *fs.asJSON {
		return printJSON(e.stdout, map[string]any{"party": ros.Party, "root_fingerprint": info.RootFingerprint, "roster_serial": ros.Serial, "devices": len(ros.Devices)})
	}
	fmt.Fprintf(e.stdout, "pinned %q: root %s, roster #%d with %d device(s)\n", ros.Party, info.RootFingerprint, ros.Serial, len(ros.Devices))
	fmt.Fprintf(e.stderr, "brief: hint: compare the safety number with %s aloud: 'brief contact verify %s'\n", ros.Party, ros.Party)
	return nil
}

func contactVerify(_ context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "contact verify", "contact verify [--dir DIR] [--json] [--confirm] PARTY")
	confirm := fs.Bool("confirm", false, "record that every group of the safety number matched the other side's")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if fs.NArg() != 1 {
		return usagef("run 'brief contact list' for the pinned parties", "contact verify takes one party name")
	}
	var ci client.ContactInfo
	if *confirm {
		ci, err = p.ConfirmContact(fs.Arg(0))
	} else {
		ci, err = p.ContactInfo(fs.Arg(0))
	}
	if err != nil {
		return err
	}
	if *fs.asJSON {
		return printJSON(e.stdout, ci)
	}
	if *confirm {
		fmt.Fprintf(e.stdout, "verified %s: safety number %s confirmed on %s\n", ci.Party, ci.SafetyNumber, when(*ci.VerifiedAt))
		return nil
	}
	printVerify(e.stdout, p.Name(), ci)
	return nil
}

// printVerify prints the safety number in four lines of four groups, and
// what to do with it.
func printVerify(w io.Writer, self string, ci client.ContactInfo) {
	first, second := self, ci.Party
	if second < first {
		first, second = second, first
	}
	g := strings.Fields(ci.SafetyNumber)
	fmt.Fprintf(w, "safety number of %s and %s:\n\n", self, ci.Party)
	for i := 0; i+4 <= len(g); i += 4 {
		fmt.Fprintf(w, "    %s\n", strings.Join(g[i:i+4], " "))
	}
	fmt.Fprintf(w, "\nCall %s on a number you know is theirs (not one from a letter or the relay).\n", ci.Party)
	fmt.Fprintf(w, "They run 'brief contact verify %s'; read your numbers to each other, group by group.\n", self)
	fmt.Fprintf(w, "If every group matches, run 'brief contact verify %s --confirm'.\n", ci.Party)
	fmt.Fprintf(w, "If any differs, do not confirm and do not send: a key was replaced on the way\n")
	fmt.Fprintf(w, "(the first two lines come from %s's key, the last two from %s's).\n", first, second)
	fmt.Fprintf(w, "\nverified: %s\n", verifiedText(ci))
}

func verifiedText(ci client.ContactInfo) string {
	switch {
	case ci.VerifiedAt != nil:
		return "yes, on " + when(*ci.VerifiedAt)
	case ci.StaleVerification:
		return "no: the number confirmed before was for other keys; compare again"
	}
	return "no"
}

func when(t time.Time) string { return t.Local().Format("2006-01-02 15:04") }

func contactShow(_ context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "contact show", "contact show [--dir DIR] [--json] PARTY")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if fs.NArg() != 1 {
		return usagef("run 'brief contact list' for the pinned parties", "contact show takes one party name")
	}
	ci, err := p.ContactInfo(fs.Arg(0))
	if err != nil {
		return err
	}
	if *fs.asJSON {
		return printJSON(e.stdout, ci)
	}
	fmt.Fprintf(e.stdout, "party:         %s\nroot key:      %s\n               fingerprint %s\nroster:        #%d, %d device(s)\nsafety number: %s\nverified:      %s\n",
		ci.Party, ci.RootKey, ci.RootFingerprint, ci.RosterSerial, ci.Devices, ci.SafetyNumber, verifiedText(ci))
	return nil
}

func contactList(_ context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "contact list", "contact list [--dir DIR] [--json]")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if fs.NArg() != 0 {
		return usagef("run 'brief contact show PARTY' for one party", "contact list takes no arguments")
	}
	list, err := p.ContactInfos()
	if err != nil {
		return err
	}
	if *fs.asJSON {
		return printJSON(e.stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stdout, "no contacts (pin a party with 'brief contact add PARTY FINGERPRINT')")
		return nil
	}
	for _, ci := range list {
		v := "not verified"
		switch {
		case ci.VerifiedAt != nil:
			v = "verified " + when(*ci.VerifiedAt)
		case ci.StaleVerification:
			v = "not verified (keys changed since)"
		}
		fmt.Fprintf(e.stdout, "%-32s %s  roster #%d  %s\n", ci.Party, ci.RootFingerprint, ci.RosterSerial, v)
	}
	return nil
}
