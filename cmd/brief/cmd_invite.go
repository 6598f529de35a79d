package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"brieftraeger/client"
	"brieftraeger/identity"
)

func cmdInvite(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "invite", args, map[string]func(context.Context, *env, []string) error{
		"create": inviteCreate, "accept": inviteAccept, "status": inviteStatus, "cancel": inviteCancel,
	})
}

func inviteCreate(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "invite create", "invite create --for PARTY [--valid DURATION] [--qr FILE] [--dir DIR] [--json]")
	to := fs.String("for", "", "the `party` invited")
	valid := fs.Duration("valid", client.DefaultInviteValidity, "how long the invitation may be answered (at most 720h)")
	qr := fs.String("qr", "", "write a QR image (PNG) of the code to `file`; default invitation-PARTY.png in the party folder")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if *to == "" || fs.NArg() != 0 {
		return usagef("brief invite create --for tehran", "invite create needs --for and no arguments")
	}
	inv, err := p.CreateInvitation(ctx, *to, *valid)
	if err != nil {
		return err
	}
	png, err := client.InviteQR(inv.Code)
	if err != nil {
		return err
	}
	if *qr == "" {
		*qr = filepath.Join(p.Dir(), "invitation-"+inv.For+".png")
	}
	if err := os.WriteFile(*qr, png, 0o600); err != nil {
		return fmt.Errorf("failed to write the QR image: %w", err)
	}
	if *fs.asJSON {
		return printJSON(e.stdout, map[string]any{"code": inv.Words, "for": inv.For, "id": inv.ID, "state": inv.State, "expires": inv.Expires, "qr": *qr})
	}
	fmt.Fprintf(e.stdout, "invitation for %s, valid until %s:\n\n    %s\n\n", inv.For, when(inv.Expires), inv.Words)
	fmt.Fprintf(e.stdout, "QR image of the code: %s\n", *qr)
	fmt.Fprintf(e.stdout, "Read the code to %s on a number you know is theirs, or hand them the image; it is good for one answer.\n", inv.For)
	fmt.Fprintf(e.stdout, "They run 'brief invite accept WORDS...'; then you run 'brief invite status' to open the channel.\n")
	if inv.State == "awaiting-approval" {
		fmt.Fprintf(e.stderr, "brief: hint: this relay's operator approves invitations first: ask them to run 'brief relay invitations approve %s'\n", inv.ID[:12])
	}
	return nil
}

func inviteAccept(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "invite accept", "invite accept [--dir DIR] [--json] WORD...")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if fs.NArg() == 0 {
		return usagef("type the words the inviting party read to you, in their order", "invite accept takes the invitation code")
	}
	code, err := identity.ParseInviteCode(strings.Join(fs.Args(), " "))
	if err != nil {
		return err
	}
	acc, err := p.AcceptInvitation(ctx, code)
	if err != nil {
		return err
	}
	if *fs.asJSON {
		return printJSON(e.stdout, acc)
	}
	fmt.Fprintf(e.stdout, "accepted the invitation of %q: pinned root %s, roster #%d with %d device(s)\n", acc.From, acc.RootFingerprint, acc.RosterSerial, acc.Devices)
	fmt.Fprintf(e.stdout, "the channel opens when %s picks up your answer ('brief invite status' on their side)\n", acc.From)
	fmt.Fprintf(e.stderr, "brief: hint: then compare the safety number with %s aloud: 'brief contact verify %s'\n", acc.From, acc.From)
	return nil
}

func inviteStatus(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "invite status", "invite status [--dir DIR] [--json]")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if fs.NArg() != 0 {
		return usagef("", "invite status takes no arguments")
	}
	list, err := p.InvitationStatus(ctx)
	if err != nil {
		return err
	}
	if *fs.asJSON {
		return printJSON(e.stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stdout, "no invitations waiting")
	}
	refused := false
	for _, s := range list {
		switch s.State {
		case "done":
			fmt.Fprintf(e.stdout, "%s accepted: pinned root %s; channel open\n", s.For, s.RootFingerprint)
			fmt.Fprintf(e.stderr, "brief: hint: compare the safety number with %s aloud: 'brief contact verify %s'\n", s.For, s.For)
		case "refused":
			refused = true
			fmt.Fprintf(e.stdout, "%s: answer REFUSED: %s\n", s.For, s.Error)
		case "open", "answered":
			fmt.Fprintf(e.stdout, "%s: waiting for their answer (until %s)\n", s.For, when(s.Expires))
		case "awaiting-approval":
			fmt.Fprintf(e.stdout, "%s: waiting for the relay operator's approval of invitation %s\n", s.For, s.ID[:min(12, len(s.ID))])
		default:
			fmt.Fprintf(e.stdout, "%s: %s; make a new invitation with 'brief invite create --for %s'\n", s.For, s.State, s.For)
		}
	}
	if refused {
		fmt.Fprintf(e.stderr, "brief: hint: tell the other party and the relay operator by a line you trust; then 'brief invite cancel PARTY' withdraws it\n")
		return checkFailed{fmt.Errorf("an answer failed its check: nothing was pinned and the channel stays shut")}
	}
	return nil
}

// inviteCancel withdraws this device's invitations for a party (or by id).
func inviteCancel(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "invite cancel", "invite cancel [--dir DIR] [--json] PARTY|ID")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if fs.NArg() != 1 {
		return usagef("'brief invite status' lists the invitations waiting", "invite cancel takes the invited party's name or the invitation's id")
	}
	list, err := p.CancelInvitation(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	if *fs.asJSON {
		return printJSON(e.stdout, list)
	}
	for _, s := range list {
		fmt.Fprintf(e.stdout, "withdrew the invitation for %s (%s)\n", printable(s.For, false), s.ID[:min(12, len(s.ID))])
	}
	return nil
}

func relayInvitations(ctx context.Context, e *env, args []string) error {
	approve := len(args) > 0 && args[0] == "approve"
	if approve {
		args = args[1:]
	}
	a, rest, asJSON, err := adminClient(e, "relay invitations", "relay invitations [approve ID] --dir DIR [--url URL] [--json]", args)
	if err != nil {
		return err
	}
	if approve {
		if len(rest) != 1 {
			return usagef("run 'brief relay invitations' for the ids", "relay invitations approve takes one invitation id")
		}
		if err := a.ApproveInvitation(ctx, rest[0]); err != nil {
			return err
		}
		if asJSON {
			return printJSON(e.stdout, map[string]string{"id": rest[0], "state": "open"})
		}
		fmt.Fprintf(e.stdout, "invitation %s approved\n", rest[0])
		return nil
	}
	if len(rest) != 0 {
		return usagef("brief relay invitations [approve ID]", "unknown arguments to relay invitations")
	}
	list, err := a.Invitations(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(e.stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stdout, "no invitations")
	}
	for _, i := range list {
		fmt.Fprintf(e.stdout, "%s  %s -> %s  %s  until %s  wrong codes %d\n", i.ID[:12], i.From, i.For, i.State, when(i.Expires), i.Misses)
	}
	return nil
}

// invitationPolicyFlag adds relay run's --invitations flag.
func invitationPolicyFlag(fs *flag.FlagSet) *string {
	return fs.String("invitations", "any", "who may open a channel by invitation: `any` admitted party, only with the operator's approval (approve), or no one (off: only 'brief relay channel')")
}
