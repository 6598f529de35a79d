package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"brieftraeger/client"
)

func cmdStatus(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "status", "status [--dir DIR] [--json] [--interval DURATION] [--wait DURATION]")
	interval := fs.Duration("interval", 0, "the heartbeat `interval` the lights are judged by; 0: the one 'brief watch' last sent with, else 60s")
	wait := fs.Duration("wait", 0, "poll until every channel is green, failing after `duration`")
	dl := fs.String("deadlines", "", "delivery `deadlines` other than the defaults (FLASH=10m,IMMEDIATE=30m,PRIORITY=3h,ROUTINE=6h), e.g. FLASH=5m")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if fs.NArg() > 0 {
		return usagef("", "status takes no arguments")
	}
	deadlines, err := client.ParseDeadlines(*dl)
	if err != nil {
		return err
	}
	defer warnOverdue(e, p, deadlines)
	deadline := time.Now().Add(*wait)
	for {
		// Fresh receipts give the round trips; a relay that cannot be
		// reached shows as red below.
		p.CollectReceipts(ctx)
		st, err := p.Status(ctx, *interval)
		if err != nil {
			return err
		}
		if allGreen(st) || *wait <= 0 || time.Now().After(deadline) || ctx.Err() != nil {
			if *fs.asJSON {
				if st == nil {
					st = []client.ChannelStatus{}
				}
				err = printJSON(e.stdout, st)
			} else {
				printStatus(e.stdout, st)
			}
			if err == nil && *wait > 0 && !allGreen(st) {
				err = fmt.Errorf("not every channel turned green within %s", *wait)
			}
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// warnOverdue prints a warning for each sent letter past its delivery
// deadline without a delivered receipt.
func warnOverdue(e *env, p *client.Party, d client.Deadlines) []client.Overdue {
	late, err := p.OverdueLetters(d)
	if err != nil {
		report(e.stderr, err)
	}
	for _, o := range late {
		fmt.Fprintf(e.stderr, "brief: warning: letter %s to %s (%s) is overdue: sealed %s, due %s, not delivered\n",
			o.ID, o.To, o.Precedence, o.SealedAt.Local().Format(time.DateTime), o.Due.Local().Format(time.DateTime))
	}
	return late
}

func allGreen(st []client.ChannelStatus) bool {
	for _, s := range st {
		if s.Light != client.Green {
			return false
		}
	}
	return len(st) > 0
}

// printStatus prints one line per channel:
// "tehran  GREEN  sent 12:00:01 (rtt 35 ms)  received 12:00:02".
func printStatus(w io.Writer, st []client.ChannelStatus) {
	if len(st) == 0 {
		fmt.Fprintln(w, "no channels (pin a party with 'brief contact add')")
	}
	at := func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.Local().Format(time.TimeOnly)
	}
	for _, s := range st {
		var sent, received *time.Time
		if s.LastSent != nil {
			sent = &s.LastSent.SealedAt
		}
		if s.LastReceived != nil {
			received = &s.LastReceived.OpenedAt
		}
		rtt := "no round trip yet"
		if s.RTTMillis != nil {
			rtt = fmt.Sprintf("rtt %.0f ms", *s.RTTMillis)
		}
		line := fmt.Sprintf("%s  %-5s  sent %s (%s)  received %s", printable(s.Channel, false), strings.ToUpper(s.Light), at(sent), rtt, at(received))
		if s.RelayError != "" {
			line += "  relay unreachable: " + printable(s.RelayError, false)
		}
		fmt.Fprintln(w, line)
	}
}

const watchUsage = `watch [--dir DIR] [--json] [--interval DURATION] [--alarm COMMAND]

Keeps the relay's push stream open and reads each letter as it arrives
(printed as 'brief read --follow' does), and every interval collects
receipts, sends a heartbeat to every pinned contact, and judges each
channel's light (see 'brief status'). When a channel's light changes
(including the first light seen, unless it is green) COMMAND runs with
/bin/sh -c and BRIEF_CHANNEL, BRIEF_LIGHT and BRIEF_PREVIOUS_LIGHT (empty
at first) in its environment. It stops on SIGINT or SIGTERM; run it as a
service, e.g. a systemd unit with ExecStart=brief watch --dir ... and
BRIEF_PASSPHRASE from an EnvironmentFile.`

func cmdWatch(ctx context.Context, e *env, args []string) error {
	fs := newPartyFlags(e, "watch", watchUsage)
	interval := fs.Duration("interval", client.DefaultHeartbeatInterval, "send heartbeats and judge the lights every `duration`")
	alarm := fs.String("alarm", "", "run `command` with /bin/sh -c when a channel's light changes or a letter becomes overdue")
	dl := fs.String("deadlines", "", "delivery `deadlines` other than the defaults (FLASH=10m,IMMEDIATE=30m,PRIORITY=3h,ROUTINE=6h)")
	p, err := fs.load(e, args)
	if err != nil {
		return err
	}
	defer p.Close()
	if fs.NArg() > 0 || *interval <= 0 {
		return usagef("brief watch --interval 60s", "watch takes no arguments and a positive --interval")
	}
	deadlines, err := client.ParseDeadlines(*dl)
	if err != nil {
		return err
	}
	// The follower and the heartbeat loop print from two goroutines.
	var mu sync.Mutex
	we := &env{stdin: e.stdin, stdout: &lockedWriter{mu: &mu, w: e.stdout}, stderr: &lockedWriter{mu: &mu, w: e.stderr}, getenv: e.getenv}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			err := readFollow(ctx, we, p, *fs.asJSON, func(from string, err error) {
				if *alarm != "" {
					runAlarm(ctx, we, *alarm, from, "log-inconsistent", "", "BRIEF_ALARM="+err.Error())
				}
			})
			if ctx.Err() != nil {
				return
			}
			report(we.stderr, fmt.Errorf("push stream: %w; reconnecting", err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(min(*interval, 5*time.Second)):
			}
		}
	}()
	ws := &watchState{lights: map[string]string{}, overdue: map[string]bool{}, deadlines: deadlines}
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for {
		watchTick(ctx, we, p, *interval, *alarm, *fs.asJSON, ws)
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-tick.C:
		}
	}
}

// watchTick collects receipts, sends a heartbeat to every contact, and
// reports each change of a channel's light. Each relay call is bounded by
// the interval, so that a hung relay shows as red instead of stopping the
// watch.
// watchState is what the watch loop remembers between ticks.
type watchState struct {
	lights    map[string]string // channel -> last light reported
	overdue   map[string]bool   // letters already reported overdue
	deadlines client.Deadlines
}

func watchTick(ctx context.Context, e *env, p *client.Party, interval time.Duration, alarm string, asJSON bool, ws *watchState) {
	lights := ws.lights
	tctx, cancel := context.WithTimeout(ctx, interval)
	defer cancel()
	if _, err := p.CollectReceipts(tctx); err != nil && ctx.Err() == nil {
		report(e.stderr, err)
	}
	contacts, err := p.Contacts()
	if err != nil {
		report(e.stderr, err)
	}
	for _, c := range contacts {
		if _, err := p.SendHeartbeat(tctx, c, interval); err != nil && ctx.Err() == nil {
			report(e.stderr, fmt.Errorf("heartbeat to %s: %w", c, err))
		}
	}
	sctx, scancel := context.WithTimeout(ctx, interval)
	defer scancel()
	st, err := p.Status(sctx, interval)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		report(e.stderr, err)
		return
	}
	for _, s := range st {
		prev := lights[s.Channel]
		if s.Light == prev {
			continue
		}
		lights[s.Channel] = s.Light
		if asJSON {
			b, _ := json.Marshal(map[string]any{"event": "light", "channel": s.Channel, "light": s.Light, "previous": prev, "status": s})
			fmt.Fprintf(e.stdout, "%s\n", b)
		} else {
			was := ""
			if prev != "" {
				was = " (was " + strings.ToUpper(prev) + ")"
			}
			fmt.Fprintf(e.stdout, "channel %s  %s%s\n", printable(s.Channel, false), strings.ToUpper(s.Light), was)
		}
		if alarm != "" && !(prev == "" && s.Light == client.Green) {
			runAlarm(ctx, e, alarm, s.Channel, s.Light, prev)
		}
	}
	late, err := p.OverdueLetters(ws.deadlines)
	if err != nil {
		report(e.stderr, err)
	}
	for _, o := range late {
		if ws.overdue[o.ID] {
			continue
		}
		ws.overdue[o.ID] = true
		fmt.Fprintf(e.stdout, "letter %s to %s  %s  OVERDUE (due %s)\n", o.ID, o.To, o.Precedence, o.Due.Local().Format(time.DateTime))
		if alarm != "" {
			runAlarm(ctx, e, alarm, o.To, "overdue", "", "BRIEF_LETTER="+o.ID)
		}
	}
}

// runAlarm runs the alarm hook and reports its failure.
func runAlarm(ctx context.Context, e *env, cmd, channel, light, prev string, extra ...string) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
	// A hook that leaves a child holding its output must not stall the watch.
	c.WaitDelay = 5 * time.Second
	c.Env = append(os.Environ(), "BRIEF_CHANNEL="+channel, "BRIEF_LIGHT="+light, "BRIEF_PREVIOUS_LIGHT="+prev)
	c.Env = append(c.Env, extra...)
	c.Stdout, c.Stderr = e.stderr, e.stderr
	if err := c.Run(); err != nil && ctx.Err() == nil {
		report(e.stderr, fmt.Errorf("alarm hook for %s (%s): %w", channel, light, err))
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
