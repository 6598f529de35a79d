// Package alarm raises the alarms of 'brief watch'. A [Tracker] turns
// what a party's device sees (the lights of its channels, overdue letters,
// missing test letters, acknowledgements owed) into events, each change
// once; [LetterOpened] makes the event of a letter the watch opens; [Hooks]
// hands each event to the alarm hooks: a command run with /bin/sh, and a
// [Webhook] that POSTs the event as JSON without ever holding up the watch.
package alarm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"brieftraeger/client"
)

// The kinds of event.
const (
	KindLight             = "light"               // a channel's light changed; Light and PreviousLight say how
	KindOverdue           = "overdue"             // a letter has no delivered receipt past its deadline
	KindTestLetterMissing = "test-letter-missing" // a test letter has no acknowledged receipt past its due time
	KindLogInconsistent   = "log-inconsistent"    // the relay showed the two parties different histories
	KindOutbox            = "outbox"              // a FLASH or IMMEDIATE letter has waited in the outbox too long
	KindMissing           = "letter-missing"      // a letter has not arrived although a later one from its sending device has
	KindLetterRefused     = "letter-refused"      // a letter the relay delivered did not verify, or replayed a number, and was refused
	KindReceiptRefused    = "receipt-refused"     // a receipt the relay served did not verify, or named no letter of this device, and was set aside
	KindLetter            = "letter"              // the watch opened a letter for a person
	KindAckOverdue        = "ack-overdue"         // a letter opened here has no acknowledged receipt past its deadline
	KindUnacknowledged    = "unacknowledged"      // a letter sent from here was delivered, and not acknowledged by its deadline
	KindRosterChanged     = "roster-changed"      // a party's roster (this one's or a contact's) added or removed a device, or changed its root key
)

// Event is one alarm. Its JSON form is the webhook's payload.
type Event struct {
	ID            string    `json:"id"`      // random; the same in every attempt to deliver it
	Party         string    `json:"party"`   // this party
	Device        string    `json:"device"`  // this device
	Channel       string    `json:"channel"` // the other party
	Kind          string    `json:"kind"`
	Light         string    `json:"light,omitempty"`          // KindLight: the new light
	PreviousLight string    `json:"previous_light,omitempty"` // KindLight: the light before, empty for the first one seen
	Letter        string    `json:"letter,omitempty"`         // for the kinds about one letter: the letter id
	Precedence    string    `json:"precedence,omitempty"`     // KindLetter, KindAckOverdue, KindUnacknowledged: the letter's
	Subject       string    `json:"subject,omitempty"`        // the same kinds: the letter's subject, only if Hooks.Subject
	Reason        string    `json:"reason"`                   // one line for a person
	Time          time.Time `json:"time"`
}

// Hooks raises events: it runs Command and queues each event for Webhook.
// The zero value raises nothing.
type Hooks struct {
	Party, Device string
	Command       string // run with /bin/sh -c for each event; "" for none
	// Subject passes letters' subjects to the hooks. A hook may be a
	// paging system, so by default Raise drops them.
	Subject bool
	Webhook *Webhook // nil for none
	// Output receives the command's output; nil discards it.
	Output io.Writer
	// Report is told of a command that failed; nil ignores it.
	Report func(error)
	// Now stamps events that have no time; nil is time.Now.
	Now func() time.Time
}

// commandTimeout bounds an alarm command.
const commandTimeout = time.Minute

// Raise fills in the event's id, party, device and time (if not set) and
// hands it to the hooks. A first light that is green is no alarm and is
// not raised. The command runs before Raise returns, for a minute at
// most; the webhook only queues the event.
func (h *Hooks) Raise(ctx context.Context, ev Event) {
	if ev.Kind == KindLight && ev.PreviousLight == "" && ev.Light == client.Green {
		return
	}
	id := make([]byte, 8)
	rand.Read(id)
	ev.ID, ev.Party, ev.Device = hex.EncodeToString(id), h.Party, h.Device
	if !h.Subject {
		ev.Subject = ""
	}
	if ev.Time.IsZero() {
		ev.Time = h.now()
	}
	if h.Webhook != nil {
		h.Webhook.Send(ev)
	}
	if h.Command != "" {
		if err := h.runCommand(ctx, ev); err != nil && h.Report != nil {
			h.Report(fmt.Errorf("alarm hook for %s (%s): %w", ev.Channel, ev.Kind, err))
		}
	}
}

func (h *Hooks) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

// runCommand runs the command with the event in its environment.
func (h *Hooks) runCommand(ctx context.Context, ev Event) error {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, "/bin/sh", "-c", h.Command)
	// A hook that leaves a child holding its output must not stall the watch.
	c.WaitDelay = 5 * time.Second
	c.Env = append(os.Environ(), commandEnv(ev)...)
	out := h.Output
	if out == nil {
		out = io.Discard
	}
	c.Stdout, c.Stderr = out, out
	err := c.Run()
	if ctx.Err() != nil && err != nil {
		return fmt.Errorf("stopped after %s: %w", commandTimeout, err)
	}
	return err
}

// commandEnv returns the variables that tell the command of an event.
// BRIEF_LIGHT is the new light, or the kind for events of other kinds.
func commandEnv(ev Event) []string {
	light := ev.Light
	if ev.Kind != KindLight {
		light = ev.Kind
	}
	env := []string{"BRIEF_EVENT=" + ev.Kind, "BRIEF_CHANNEL=" + ev.Channel, "BRIEF_LIGHT=" + light,
		"BRIEF_PREVIOUS_LIGHT=" + ev.PreviousLight, "BRIEF_REASON=" + ev.Reason}
	if ev.Letter != "" {
		env = append(env, "BRIEF_LETTER="+ev.Letter)
	}
	if ev.Precedence != "" {
		env = append(env, "BRIEF_PRECEDENCE="+ev.Precedence)
	}
	if ev.Subject != "" {
		env = append(env, "BRIEF_SUBJECT="+ev.Subject)
	}
	if ev.Kind == KindLogInconsistent {
		env = append(env, "BRIEF_ALARM="+ev.Reason)
	}
	return env
}
