package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"brieftraeger/client"
	"brieftraeger/internal/alarm"
	"brieftraeger/internal/api"
)

const watchUsage = `watch [--dir DIR] [--json] [--all] [--interval DURATION] [--test-every DURATION]
             [--alarm COMMAND] [--alarm-webhook URL] [--alarm-subject]
             [--deadlines LIST] [--ack-deadlines LIST] [--roster-every DURATION]
             [--epoch-every DURATION]

Keeps the relay's push stream open and reads each letter as it arrives
(printed as 'brief read --follow' does), and every interval collects
receipts, sends a heartbeat to every pinned contact, and judges each
channel's light (see 'brief status'); it prints a line when a light
changes. Every --test-every it also sends each contact a test letter, which
the other side's device acknowledges as soon as it opens it; a test letter
not acknowledged within twice --test-every is missing. Test letters from
contacts are acknowledged likewise. The heartbeats and test letters it
reads are printed only with --all. It posts what waits in the outbox, each
channel in order, trying again with backoff, and picks up the answers to
this device's invitations (see 'brief invite status').

Alarms (see docs/OPERATIONS.md for each): light, a change of light
(including the first light seen, unless it is green; the first is judged
two intervals after the start); overdue, a letter sent and not delivered
by its deadline; test-letter-missing; log-inconsistent, a relay log that
does not check out; outbox, a FLASH or IMMEDIATE letter waiting to be
posted for over a minute; letter-refused, a letter delivered that does
not verify; receipt-refused, a receipt set aside; letter-missing, a letter
not arrived although a later one from the same sending device has; letter, each letter opened (not
heartbeats and test letters); ack-overdue, a letter opened here and not
acknowledged by its deadline (see 'brief pending'); unacknowledged, a
letter sent from here, delivered and not acknowledged by it;
roster-changed, this party's or a contact's roster added or removed a
device or changed its root key (the rosters are followed at the relay
every --roster-every, and whenever a letter names a device not seen
before). On a device that keeps the party's root key in its keystore, it
rotates the epoch key every --epoch-every (default 720h; 0: never; see
'brief party epoch rotate'); on any other device it says once when the
current epoch expires within 7 days and no one rotated it. For each, COMMAND runs with /bin/sh -c and BRIEF_EVENT,
BRIEF_CHANNEL, BRIEF_LIGHT, BRIEF_PREVIOUS_LIGHT (empty at first),
BRIEF_LETTER, BRIEF_PRECEDENCE, BRIEF_REASON and, with --alarm-subject,
BRIEF_SUBJECT in its environment, and the alarm is POSTed
as JSON to the --alarm-webhook URL (https, or http to a loopback address;
10 s per attempt, 4 attempts with backoff, never holding up the watch). Both
may be given. It stops on SIGINT or SIGTERM; run it as a service, e.g. a
systemd unit with ExecStart=brief watch --dir ... and BRIEF_PASSPHRASE from
an EnvironmentFile.`

func cmdWatch(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "watch", watchUsage)
	interval := fs.Duration("interval", client.DefaultHeartbeatInterval, "send heartbeats and judge the lights every `duration`")
	testEvery := fs.Duration("test-every", client.DefaultTestEvery, "send every contact a test letter every `duration`, to be acknowledged within twice that; 0: none")
	command := fs.String("alarm", "", "run `command` with /bin/sh -c on each alarm")
	webhook := fs.String("alarm-webhook", "", "POST each alarm as JSON to `url` (https, or http to a loopback address)")
	all := fs.Bool("all", false, allUsage)
	dl := fs.String("deadlines", "", "delivery `deadlines` other than the defaults (FLASH=10m,IMMEDIATE=30m,PRIORITY=3h,ROUTINE=6h)")
	ackDL := fs.String("ack-deadlines", "", "acknowledgement `deadlines` other than the defaults (FLASH=10m,IMMEDIATE=1h,PRIORITY=6h,ROUTINE=24h)")
	rosterEvery := fs.Duration("roster-every", 10*time.Minute, "follow this party's and the contacts' rosters at the relay every `duration`")
	epochEvery := fs.Duration("epoch-every", client.DefaultEpochEvery, "on a device keeping the root key, rotate the epoch key every `duration`; 0: never")
	subject := fs.Bool("alarm-subject", false, "give the hooks letters' subjects (BRIEF_SUBJECT, \"subject\"); off, since a hook may be a paging system")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *interval <= 0 || *testEvery < 0 || *rosterEvery <= 0 || *epochEvery < 0 {
		return usagef("brief watch --interval 60s --test-every 1h", "watch takes no arguments, a positive --interval and --roster-every, and a --test-every of 0 or more")
	}
	// The follower, the webhook and the watch loop print from several goroutines.
	var mu sync.Mutex
	we := &env{stdin: e.stdin, stdout: &lockedWriter{mu: &mu, w: e.stdout}, stderr: &lockedWriter{mu: &mu, w: e.stderr}, getenv: e.getenv}
	hooks := &alarm.Hooks{Command: *command, Output: we.stderr, Report: func(err error) { report(we.stderr, err) }}
	if *webhook != "" {
		wh, err := alarm.NewWebhook(*webhook, alarm.WebhookOptions{Report: hooks.Report})
		if err != nil {
			return usagef("give an https:// URL; plain http is allowed only to 127.0.0.1, ::1 or localhost", "--alarm-webhook: %v", err)
		}
		hooks.Webhook = wh
	}
	deadlines, err := client.ParseDeadlines(*dl)
	if err != nil {
		return err
	}
	ackDeadlines, err := client.ParseAckDeadlines(*ackDL)
	if err != nil {
		return err
	}
	hooks.Subject = *subject
	p, err := loadParty(e, *fs.dir)
	if err != nil {
		return err
	}
	defer p.Close()
	unlock, err := p.LockReading(ctx, "brief watch", nil)
	if err != nil {
		return err
	}
	defer unlock()
	hooks.Party, hooks.Device = p.Name(), p.Device()
	w := &watcher{e: we, p: p, interval: *interval, testEvery: *testEvery, asJSON: *fs.asJSON, all: *all, deadlines: deadlines, hooks: hooks,
		ackDeadlines: ackDeadlines, rosterEvery: *rosterEvery, epochEvery: *epochEvery, lastWarn: map[string]string{}, refused: map[string]time.Time{}}
	// A watch that starts after the channel was silent (a new set-up, a
	// device that was off) would see red before the first heartbeats
	// had a chance to go: the first light is judged after two intervals.
	w.tracker.Quiet = time.Now().Add(2 * w.interval)
	w.run(ctx)
	return nil
}

// run watches until ctx ends, then waits for the follower and for the
// webhook's last deliveries.
func (w *watcher) run(ctx context.Context) {
	var wg sync.WaitGroup
	if wh := w.hooks.Webhook; wh != nil {
		wg.Go(func() { wh.Run(ctx) })
	}
	wg.Go(func() { w.follow(ctx) })
	wg.Go(func() { w.retryOutbox(ctx) })
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	for {
		w.tick(ctx)
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
		}
	}
}

// watcher is a running 'brief watch': its settings and what it has
// reported so far.
type watcher struct {
	e                   *env
	p                   *client.Party
	interval, testEvery time.Duration
	asJSON, all         bool // all: print heartbeats and test letters read too
	deadlines           client.Deadlines
	hooks               *alarm.Hooks
	tracker             alarm.Tracker
	lastWarn            map[string]string    // the last error reported, by what failed (warnOnce)
	refused             map[string]time.Time // contacts whose channel the relay refused, until when to leave them
	ackDeadlines        client.AckDeadlines
	rosterEvery         time.Duration
	rostersFollowed     time.Time // when the rosters were last followed at the relay
	epochEvery          time.Duration
}

// follow reads letters from the relay's push stream until ctx ends,
// reconnecting when the stream breaks, and raises the log alarms.
func (w *watcher) follow(ctx context.Context) {
	gaps := &gapWarner{onMissing: func(g client.Gap, line string) {
		w.hooks.Raise(ctx, alarm.Event{Kind: alarm.KindMissing, Channel: g.From, Reason: line})
	}}
	var lastErr string
	for {
		refused := func(m api.MailboxEntry, err error) {
			w.hooks.Raise(ctx, alarm.Event{Kind: alarm.KindLetterRefused, Channel: m.From, Letter: m.ID, Reason: err.Error()})
		}
		err := readFollow(ctx, w.e, w.p, readView{asJSON: w.asJSON, all: w.all, gaps: gaps, refused: refused}, func(from string, err error) {
			w.hooks.Raise(ctx, alarm.Event{Kind: alarm.KindLogInconsistent, Channel: from, Reason: err.Error()})
		}, func(rec *client.Received) { w.opened(ctx, rec) })
		if ctx.Err() != nil {
			return
		}
		// A relay that stays down breaks each new stream the same way:
		// that is said once, not every few seconds.
		if err.Error() != lastErr {
			report(w.e.stderr, fmt.Errorf("push stream: %w; reconnecting", err))
			lastErr = err.Error()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(w.interval, 5*time.Second)):
		}
	}
}

// tick collects receipts, sends heartbeats and the test letters due, and
// reports each change of a channel's light, each overdue letter and each
// missing test letter. Each relay call is bounded by the interval, so that
// a hung relay shows as red instead of stopping the watch.
func (w *watcher) tick(ctx context.Context) {
	tctx, cancel := context.WithTimeout(ctx, w.interval)
	defer cancel()
	w.send(tctx)
	w.owed(ctx)
	w.rosters(tctx)
	w.invitations(tctx)
	w.epochs(tctx)
	sctx, scancel := context.WithTimeout(ctx, w.interval)
	defer scancel()
	st, err := w.p.Status(sctx, w.interval)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		report(w.e.stderr, err)
		return
	}
	for _, ev := range w.tracker.Status(st) {
		w.print(ev, st)
		w.hooks.Raise(ctx, ev)
	}
	late, err := w.p.OverdueLetters(w.deadlines)
	if err != nil {
		report(w.e.stderr, err)
	}
	for _, ev := range w.tracker.Overdue(late) {
		w.print(ev, nil)
		w.hooks.Raise(ctx, ev)
	}
}

// send collects receipts, sends a heartbeat to every contact and a test
// letter to each that is due one, and retries acknowledgements of test
// letters received.
func (w *watcher) send(ctx context.Context) {
	warn := func(what string, err error) {
		if ctx.Err() == nil {
			w.warnOnce(what, err)
		}
	}
	_, refused, err := w.p.CollectReceiptsAndRefusals(ctx)
	warn("receipts", err)
	for _, r := range refused {
		// A receipt that does not verify against its letter and the
		// recipient's roster is evidence; the relay served it.
		ev := alarm.Event{Kind: alarm.KindReceiptRefused, Letter: r.ID, Reason: fmt.Sprintf("receipt %d (%s) set aside: %s", r.Seq, r.Kind, r.Reason)}
		if s, err := w.p.Sent(r.ID); err == nil {
			ev.Channel = s.To // empty for a letter this device has no record of
		}
		w.hooks.Raise(ctx, ev)
	}
	contacts, err := w.p.Contacts()
	warn("contacts", err)
	now := time.Now()
	for _, c := range contacts {
		if now.Before(w.refused[c]) {
			continue // the relay refuses this channel; tried again later
		}
		_, err := w.p.SendHeartbeat(ctx, c, w.interval)
		if w.testEvery > 0 && err == nil {
			var due bool
			if due, err = w.p.TestLetterDue(c, w.testEvery); err == nil && due {
				_, err = w.p.SendTestLetter(ctx, c, 2*w.testEvery)
			}
		}
		if errors.As(err, new(*client.RefusedError)) {
			w.refused[c] = now.Add(refusedChannelWait)
		}
		if errors.Is(err, client.ErrOutboxWaiting) {
			err = nil // the outbox's own alarm and the light tell of it
		}
		warn("letters to "+c, err)
	}
	warn("test letter acknowledgements", w.p.AckTestLetters(ctx))
	_, err = w.p.RetryReceipts(ctx)
	warn("receipts not sent", err)
}

// rosters follows the rosters at the relay every rosterEvery, and tells
// of each change of a roster that this folder holds and did not tell
// before, however it came (a letter from a new device refreshes a
// contact too).
func (w *watcher) rosters(ctx context.Context) {
	if time.Since(w.rostersFollowed) >= w.rosterEvery {
		err := w.p.RefreshRosters(ctx)
		if ctx.Err() == nil {
			w.warnOnce("rosters", err)
			if err == nil {
				w.rostersFollowed = time.Now()
			}
		}
	}
	changes, err := w.p.NewRosterChanges()
	w.warnOnce("roster changes", err)
	for _, c := range changes {
		ev := alarm.Event{Kind: alarm.KindRosterChanged, Channel: c.Party, Reason: c.String()}
		w.print(ev, nil)
		w.hooks.Raise(ctx, ev)
	}
}

// invitations picks up the answers to this device's invitations: an
// answer that checks out pins the invited party and opens the channel,
// which is said once; one that does not is said once until it changes.
func (w *watcher) invitations(ctx context.Context) {
	list, err := w.p.InvitationStatus(ctx)
	if ctx.Err() != nil {
		return
	}
	w.warnOnce("invitations", err)
	for _, st := range list {
		switch {
		case st.RootFingerprint != "":
			fmt.Fprintf(w.e.stdout, "invitation for %s answered: pinned %s (root %s), channel open\n", printable(st.For, false), printable(st.For, false), st.RootFingerprint)
			fmt.Fprintf(w.e.stderr, "brief: hint: compare the safety number with %s aloud: 'brief contact verify %s'\n", printable(st.For, false), printable(st.For, false))
		case st.State == "refused":
			w.warnOnce("invitation for "+st.For, errors.New("its answer was refused: "+st.Error))
		}
	}
}

// refusedChannelWait is how long a watch sends no heartbeat or test letter
// to a contact whose channel the relay refused: each would be refused too.
const refusedChannelWait = 10 * time.Minute

// warnOnce reports err unless it is what was last reported for what: a
// relay that stays down fails each tick the same way, and one line says
// so. A nil err clears it.
func (w *watcher) warnOnce(what string, err error) {
	if err == nil {
		delete(w.lastWarn, what)
		return
	}
	if w.lastWarn[what] == err.Error() {
		return
	}
	w.lastWarn[what] = err.Error()
	report(w.e.stderr, fmt.Errorf("%s: %w", what, err))
}

// print prints an event: one line of text, or with --json one object.
func (w *watcher) print(ev alarm.Event, st []client.ChannelStatus) {
	if w.asJSON {
		v := map[string]any{"event": ev.Kind, "channel": ev.Channel, "letter": ev.Letter, "reason": ev.Reason}
		if ev.Kind == alarm.KindLight {
			v = map[string]any{"event": ev.Kind, "channel": ev.Channel, "light": ev.Light, "previous": ev.PreviousLight}
			if i := slices.IndexFunc(st, func(s client.ChannelStatus) bool { return s.Channel == ev.Channel }); i >= 0 {
				v["status"] = st[i]
			}
		}
		b, _ := json.Marshal(v)
		fmt.Fprintf(w.e.stdout, "%s\n", b)
		return
	}
	switch ev.Kind {
	case alarm.KindLight:
		was := ""
		if ev.PreviousLight != "" {
			was = " (was " + strings.ToUpper(ev.PreviousLight) + ")"
		}
		fmt.Fprintf(w.e.stdout, "channel %s  %s%s\n", printable(ev.Channel, false), strings.ToUpper(ev.Light), was)
	default:
		fmt.Fprintf(w.e.stdout, "channel %s  %s  %s\n", printable(ev.Channel, false), strings.ToUpper(ev.Kind), printable(ev.Reason, false))
	}
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
