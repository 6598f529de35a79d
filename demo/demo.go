// Package demo runs the whole first slice in one process, as 'brief demo'
// does: a relay on 127.0.0.1 on embedded JetStream with TLS, two parties
// with one device each, a channel between them, and one FLASH letter with a
// PDF attachment from washington to tehran, followed through every receipt.
// It uses the same relay and client code as separate processes would.
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"brieftraeger/client"
	"brieftraeger/envelope"
	"brieftraeger/identity"
	"brieftraeger/internal/api"
	"brieftraeger/letter"
	"brieftraeger/relay"
)

// Options configures Run. The zero value runs the standard demo in a
// temporary folder that is removed afterwards.
type Options struct {
	Dir        string // keep all state here; empty means a temporary folder
	Subject    string // default "Proposal for direct talks"
	Body       string
	Attachment []byte // default: a one-page PDF
	Logger     *slog.Logger
	Progress   io.Writer // step-by-step lines as the demo runs; nil for none
}

// Step is one line of the timeline.
type Step struct {
	Step     string    `json:"step"`
	At       time.Time `json:"at"`
	Signer   string    `json:"signer,omitempty"`
	Verified bool      `json:"signature_verified"`
	Detail   string    `json:"detail,omitempty"`
}

// Report is the outcome of a demo run.
type Report struct {
	Subject            string  `json:"subject"`
	LetterID           string  `json:"letter_id"`
	Precedence         string  `json:"precedence"`
	From               string  `json:"from"`
	To                 string  `json:"to"`
	Delivered          bool    `json:"delivered"`
	Acknowledged       bool    `json:"acknowledged"`
	SignaturesVerified bool    `json:"signatures_verified"`
	ContentVerified    bool    `json:"content_verified"`
	LogConsistent      bool    `json:"log_consistent"` // tehran checked washington's view of the relay's log against its own
	PostToDeliveredMS  float64 `json:"post_to_delivered_ms"`
	RelayURL           string  `json:"relay_url"`
	RelayDir           string  `json:"relay_dir"`
	Kept               bool    `json:"kept"`
	Timeline           []Step  `json:"timeline"`
}

// OK reports whether every step happened and verified.
func (r *Report) OK() bool {
	return r.Delivered && r.Acknowledged && r.SignaturesVerified && r.ContentVerified && r.LogConsistent
}

const demoPassphrase = "brieftraeger demo passphrase"

// demoWorkFactor keeps the demo quick: the floor (identity.MinWorkFactor),
// about a twentieth of a second per open; real keystores use the default.
const demoWorkFactor = 14

// Run runs the demo and returns its report. An error means a step failed;
// the report then holds the steps that happened.
func Run(ctx context.Context, o Options) (*Report, error) {
	o = o.fill()
	rep := &Report{Subject: o.Subject, From: "washington", To: "tehran", Precedence: envelope.Flash.String()}
	dir, cleanup, err := workDir(o.Dir)
	if err != nil {
		return rep, err
	}
	defer cleanup()
	rep.Kept = o.Dir != ""
	rep.RelayDir = filepath.Join(dir, "relay")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := startWorld(ctx, dir, o)
	if err != nil {
		return rep, err
	}
	defer w.stop()
	rep.RelayURL = w.url
	return rep, w.exchange(ctx, o, rep)
}

func (o Options) fill() Options {
	if o.Subject == "" {
		o.Subject = "Proposal for direct talks"
	}
	if o.Body == "" {
		o.Body = "Excellency,\n\nMy government proposes direct talks in Geneva on the 3rd. Details are attached.\n"
	}
	if o.Attachment == nil {
		o.Attachment = samplePDF("Proposal for direct talks - annex")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

func workDir(dir string) (string, func(), error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", nil, fmt.Errorf("failed to create %s: %w", dir, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			return "", nil, fmt.Errorf("%s is not empty (the demo needs a fresh folder)", dir)
		}
		return dir, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "brief-demo-")
	if err != nil {
		return "", nil, err
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}

// world is the running relay and the two parties.
type world struct {
	url         string
	relayDone   chan error
	cancelRelay context.CancelFunc
	wash, teh   *client.Party
	progress    io.Writer
}

func (w *world) stop() {
	w.wash.Close()
	w.teh.Close()
	w.cancelRelay()
	<-w.relayDone
}

func (w *world) say(format string, args ...any) { fmt.Fprintf(w.progress, format+"\n", args...) }

func startWorld(ctx context.Context, dir string, o Options) (*world, error) {
	rd, err := relay.Init(filepath.Join(dir, "relay"), "swiss", nil, []string{"127.0.0.1"})
	if err != nil {
		return nil, err
	}
	w := &world{relayDone: make(chan error, 1), progress: o.Progress}
	rctx, cancel := context.WithCancel(context.Background())
	w.cancelRelay = cancel
	ready := make(chan string, 1)
	go func() {
		w.relayDone <- relay.Serve(rctx, rd, relay.Options{Listen: "127.0.0.1:0", Logger: o.Logger, Ready: func(a string) { ready <- a }})
	}()
	select {
	case addr := <-ready:
		w.url = "https://" + addr
	case err := <-w.relayDone:
		return nil, fmt.Errorf("relay failed to start: %w", err)
	}
	w.say("relay %q listening on %s (TLS 1.3, certificate %s…)", rd.Descriptor.Name, w.url, rd.Descriptor.TLSSHA256[:16])
	if err := w.setUpParties(ctx, dir, rd, o); err != nil {
		w.cancelRelay()
		<-w.relayDone
		return nil, err
	}
	return w, nil
}

func (w *world) setUpParties(ctx context.Context, dir string, rd *relay.Dir, o Options) error {
	desc := rd.Descriptor
	desc.URL = w.url
	var err error
	opts := client.Options{Logger: o.Logger}
	if w.wash, err = client.Init(client.InitOptions{Dir: filepath.Join(dir, "washington"), Party: "washington", Device: "state-dept",
		Passphrase: demoPassphrase, WorkFactor: demoWorkFactor, Relay: desc}, opts); err != nil {
		return err
	}
	if w.teh, err = client.Init(client.InitOptions{Dir: filepath.Join(dir, "tehran"), Party: "tehran", Device: "foreign-ministry",
		Passphrase: demoPassphrase, WorkFactor: demoWorkFactor, Relay: desc}, opts); err != nil {
		return err
	}
	admin, err := client.NewAdmin(desc, w.url, rd.AdminKey)
	if err != nil {
		return err
	}
	for _, p := range []*client.Party{w.wash, w.teh} {
		if err := admin.Admit(ctx, p.Name(), p.Roster().Raw); err != nil {
			return err
		}
		w.say("party %q admitted: root key %s", p.Name(), rootFingerprint(p))
	}
	if err := admin.OpenChannel(ctx, "washington", "tehran"); err != nil {
		return err
	}
	w.say("channel washington <-> tehran opened")
	// Each side pins the other's root key, as exchanged out of band.
	if _, err := w.wash.AddContact(ctx, "tehran", w.teh.Roster().Root); err != nil {
		return err
	}
	if _, err := w.teh.AddContact(ctx, "washington", w.wash.Roster().Root); err != nil {
		return err
	}
	// Each device takes its first view of the relay's log, which its
	// letters will carry to the other side.
	for _, p := range []*client.Party{w.wash, w.teh} {
		if _, err := p.SyncLog(ctx); err != nil {
			return err
		}
	}
	return nil
}

func rootFingerprint(p *client.Party) string {
	return identity.Fingerprint(p.Roster().Root)
}

// received is what tehran's listener saw.
type received struct {
	rec *client.Received
	at  time.Time
	err error
}

// exchange sends the letter and follows it through every receipt.
func (w *world) exchange(ctx context.Context, o Options, rep *Report) error {
	got := make(chan received, 1)
	listening := make(chan struct{})
	lctx, stopListening := context.WithCancel(ctx)
	defer stopListening()
	go w.listen(lctx, listening, got)
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		return errors.New("tehran could not open its event stream")
	}
	sent, posted, err := w.wash.Send(ctx, client.Outgoing{To: "tehran", Subject: o.Subject, Precedence: envelope.Flash,
		Body: []byte(o.Body), Attachments: []letter.Attachment{{Name: "proposal.pdf", MediaType: "application/pdf", Size: int64(len(o.Attachment)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(o.Attachment)), nil }}}})
	if err != nil {
		return err
	}
	rep.LetterID = sent.ID
	rep.add(Step{Step: "sealed", At: sent.SealedAt, Signer: "washington/state-dept",
		Detail: fmt.Sprintf("seq %d, %d bytes sealed (padded), to epoch keys of tehran and washington", sent.Seq, sent.Size)})
	rep.add(Step{Step: "posted", At: posted.Time, Signer: "relay " + posted.Party, Verified: true, // Send verified it
		Detail: fmt.Sprintf("durable at relay, mail seq %d", posted.Seq)})
	w.say("sealed and posted letter %s", sent.ID)
	var r received
	select {
	case r = <-got:
	case <-time.After(30 * time.Second):
		return errors.New("tehran did not receive the letter within 30 s")
	}
	if r.err != nil {
		return fmt.Errorf("tehran failed to receive the letter: %w", r.err)
	}
	rep.Timeline[0].Verified = true // tehran checked the letter's signature to open it
	rep.PostToDeliveredMS = float64(r.at.Sub(posted.Time).Microseconds()) / 1000
	rep.ContentVerified = w.checkContent(r.rec, o)
	if err := w.teh.CheckGossip(ctx, r.rec); err != nil {
		return err
	}
	rep.LogConsistent = true
	w.say("tehran checked washington's view of the relay's log against its own")
	if _, err := w.teh.Ack(ctx, sent.ID); err != nil {
		return err
	}
	w.say("tehran opened, verified and acknowledged the letter")
	return w.collect(ctx, sent.ID, rep)
}

// listen is tehran's device: it takes each pushed envelope, opens it and
// sends the delivered receipt.
func (w *world) listen(ctx context.Context, listening chan struct{}, got chan<- received) {
	err := w.teh.Events(ctx, func() { close(listening) }, func(e api.MailboxEntry) error {
		rec, err := w.teh.ReceiveEvent(ctx, e)
		got <- received{rec: rec, at: time.Now(), err: err}
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) && ctx.Err() == nil {
		got <- received{err: err}
	}
}

var errStop = errors.New("stop listening")

func (w *world) checkContent(rec *client.Received, o Options) bool {
	dir := w.teh.LetterDir(rec.ID)
	body, err1 := os.ReadFile(filepath.Join(dir, rec.Parts[0].Path))
	pdf, err2 := os.ReadFile(filepath.Join(dir, rec.Parts[1].Path))
	return err1 == nil && err2 == nil && string(body) == o.Body && bytes.Equal(pdf, o.Attachment) && rec.Subject == o.Subject
}

// collect waits for washington to collect and verify both receipts.
func (w *world) collect(ctx context.Context, id string, rep *Report) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := w.wash.CollectReceipts(ctx); err != nil {
			return err
		}
		sent, err := w.wash.Sent(id)
		if err != nil {
			return err
		}
		if len(sent.Receipts) == 3 {
			return rep.finish(w.wash, sent)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("washington did not get both receipts within 10 s")
}

// finish re-verifies every receipt of the sent letter and completes the
// timeline.
func (rep *Report) finish(p *client.Party, sent *client.SentLetter) error {
	all := true
	for _, raw := range sent.Receipts[1:] {
		rc, err := envelope.ParseReceipt(raw)
		ok := err == nil && p.VerifyReceipt(sent, rc) == nil
		all = all && ok
		if err != nil {
			continue
		}
		rep.add(Step{Step: rc.Kind.String(), At: rc.Time, Signer: rc.Party + "/" + rc.Signer, Verified: ok})
		rep.Delivered = rep.Delivered || rc.Kind == envelope.Delivered && ok
		rep.Acknowledged = rep.Acknowledged || rc.Kind == envelope.Acknowledged && ok
	}
	posted, err := envelope.ParseReceipt(sent.Receipts[0])
	all = all && err == nil && p.VerifyReceipt(sent, posted) == nil
	rep.SignaturesVerified = all
	if !rep.OK() {
		return errors.New("not every step verified")
	}
	return nil
}

func (rep *Report) add(s Step) { rep.Timeline = append(rep.Timeline, s) }
