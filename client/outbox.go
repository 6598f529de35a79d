package client

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"brieftraeger/envelope"
	"brieftraeger/internal/api"
)

// The outbox. Send seals a letter, keeps its sealed copy (sent/ID.age) and
// records it (state "queued") before anything goes to the
// relay; posting it then moves it to "posted" with the relay's verified
// receipt. A letter the relay cannot take now (unreachable, 5xx, a timeout)
// stays queued, with its sequence number, and is posted later by
// RetryOutbox.
//
// The letters of one channel are posted strictly in sequence order, one at
// a time, under that channel's post lock (locks/post-PARTY, shared by every
// process using the folder): a letter is posted only after every queued
// letter with a lower number was posted or refused. So a receiver never
// sees a later number before an earlier one because of a retry, and a gap
// it sees means a letter the relay acknowledged and did not deliver.
//
// A letter the relay refuses for good (the 4xx refusals below) is marked
// "refused" and leaves no number behind that would read as missing: if
// its number is the last one taken on the channel, it is given back for
// the next letter; if a later one was taken, a short notice letter is
// sealed with the same number in its place ("letter N was not sent"). A
// refusal of the channel itself (no channel, unknown party, a device not
// on the roster) refuses every letter waiting on it, and gives all their
// numbers back.

// The states of a sent letter.
const (
	StateQueued  = "queued"  // sealed and recorded, waiting in the outbox to be posted
	StatePosted  = "posted"  // the relay's posted receipt is recorded
	StateRefused = "refused" // the relay refused it for good: it was never posted
	// StateFailed is a letter recorded before the outbox existed whose
	// post failed: its sealed copy was not kept, so it cannot be posted
	// again. It may or may not have reached the relay (Audit tells).
	StateFailed = "failed"
)

// state returns the letter's state; a posted receipt makes it posted
// whatever the record says.
func (s *SentLetter) state() string {
	for _, raw := range s.Receipts {
		if rc, err := envelope.ParseReceipt(raw); err == nil && rc.Kind == envelope.Posted {
			return StatePosted
		}
	}
	if s.State == "" || s.State == StatePosted {
		return StateFailed
	}
	return s.State
}

// postedReceipt returns the letter's posted receipt, or nil.
func (s *SentLetter) postedReceipt() *envelope.Receipt {
	for _, raw := range s.Receipts {
		if rc, err := envelope.ParseReceipt(raw); err == nil && rc.Kind == envelope.Posted {
			return rc
		}
	}
	return nil
}

// ErrOutboxWaiting is why a heartbeat or test letter is not sealed: letters
// wait in its channel's outbox, so the relay is not taking letters now.
var ErrOutboxWaiting = errors.New("the outbox holds letters the relay has not taken yet")

// QueuedError says that a letter was sealed and recorded but not posted:
// it waits in the outbox and is posted by RetryOutbox (or 'brief watch').
type QueuedError struct {
	ID     string
	Seq    uint64
	Behind string // an earlier letter of the channel it waits behind, if that is what held it
	Err    error  // why the relay did not take it now
}

func (e *QueuedError) Error() string {
	if e.Behind != "" {
		return fmt.Sprintf("letter %s waits in the outbox behind letter %s: %v", e.ID, e.Behind, e.Err)
	}
	return fmt.Sprintf("letter %s waits in the outbox: %v", e.ID, e.Err)
}

func (e *QueuedError) Unwrap() error { return e.Err }

// RefusedError says that the relay refused a letter for good: it was not
// sent, and its sequence number was given back or taken by a notice.
type RefusedError struct {
	ID  string
	Err *RelayError
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("letter %s was not sent: %v", e.ID, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// refusal returns err's refusal by the relay if it is for good, and
// whether it refuses the whole channel rather than this one letter.
func refusal(err error) (re *RelayError, channel bool) {
	if !errors.As(err, &re) || re.Status/100 != 4 || re.Status == http.StatusRequestTimeout || re.Status == http.StatusTooManyRequests {
		return nil, false
	}
	switch re.Code {
	case api.CodeNoChannel, api.CodeUnknownParty, api.CodeNotOnRoster, api.CodeForbidden:
		return re, true
	case api.CodeMalformed, api.CodeTooLarge, api.CodeBadSignature, api.CodeEpoch, api.CodeReplay:
		return re, false
	}
	return nil, false // a refusal this device does not know: keep the letter
}

func (p *Party) sealedPath(id string) string { return filepath.Join(p.dir, "sent", id+".age") }

// recordSent records a sealed letter, queued, with its body in the search
// index. tried reports whether the record may exist: not if its work
// failed (rolled back), but perhaps if only the commit failed.
func (p *Party) recordSent(s *SentLetter, body, sealed []byte) (tried bool, err error) {
	err = p.inDurableTx(func(tx *sql.Tx) error {
		if sealed != nil {
			if _, err := tx.Exec(`INSERT INTO sealed (id, data) VALUES (?, ?)`, s.ID, sealed); err != nil {
				return fmt.Errorf("failed to keep the sealed letter: %w", err)
			}
		}
		if err := putSentRecord(tx, s, string(body[:min(len(body), maxIndexedBody)])); err != nil {
			return err
		}
		if err := doneSealing(tx, s.To, s.Seq); err != nil {
			return err
		}
		// Its work done, only the commit remains: if that fails, the
		// record may still be on disk, and the number is kept.
		tried = true
		return nil
	})
	return tried, err
}

// Outbox lists the letters waiting to be posted, by channel and sequence
// number.
func (p *Party) Outbox() ([]*SentLetter, error) {
	return sentIndexed(p.db, "letters_queued", `state = 'queued'`, `party, seq`)
}

// queued returns the letters waiting to be posted to party, lowest
// sequence number first.
func (p *Party) queued(party string) ([]*SentLetter, error) {
	return sentIndexed(p.db, "letters_queued", `state = 'queued' AND party = ?`, `seq`, party)
}

// RetryOutbox posts every queued letter whose channel is not waiting out a
// backoff, channel by channel in sequence order. It returns the letters
// posted and refused, and the error of each channel that is still held.
func (p *Party) RetryOutbox(ctx context.Context, force bool) (posted, refused []*SentLetter, err error) {
	all, err := p.Outbox()
	if err != nil {
		return nil, nil, err
	}
	var errs []error
	seen := map[string]bool{}
	for _, s := range all {
		if seen[s.To] {
			continue
		}
		seen[s.To] = true
		if !force && p.now().Before(s.nextTry()) {
			continue
		}
		ps, rs, err := p.drain(ctx, s.To, "", nil)
		posted, refused = append(posted, ps...), append(refused, rs...)
		if err != nil {
			errs = append(errs, fmt.Errorf("channel to %s: %w", s.To, err))
		}
	}
	return posted, refused, errors.Join(errs...)
}

// nextTry is when a queued letter that failed Attempts times is tried
// again: after 2 s, doubling, at most 5 minutes after its last attempt.
func (s *SentLetter) nextTry() time.Time {
	if s.LastAttempt == nil || s.Attempts == 0 {
		return time.Time{}
	}
	wait := 2 * time.Second << min(s.Attempts-1, 8)
	return s.LastAttempt.Add(min(wait, 5*time.Minute))
}

// drain posts the letters queued to party in sequence order under the
// channel's post lock, until the queue is empty or one cannot be posted
// now (err). progress, if not nil, reports the posting of letter id. The
// posted receipts are recorded together, before the lock is let go: a
// crash before that leaves the letters queued, to be posted again, and
// the relay answers a letter posted again with the receipt it gave.
func (p *Party) drain(ctx context.Context, party, id string, progress func(string, int64, int64)) (posted, refused []*SentLetter, err error) {
	unlock, err := p.postLock(ctx, party)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	if err := p.sealDueNotices(party); err != nil {
		return nil, nil, err
	}
	var unmarked []postedLetter
	mark := func() error {
		err := p.markPosted(unmarked)
		unmarked = nil
		if err != nil {
			return fmt.Errorf("letters posted but their receipts not recorded: %w", err)
		}
		return nil
	}
	defer func() {
		if merr := mark(); merr != nil {
			err = errors.Join(err, merr)
		}
	}()
	var after uint64 // the last number posted here, not yet recorded as posted
	for {
		head, err := p.queueHead(party, after)
		if err != nil || len(head) == 0 {
			return posted, refused, err
		}
		s := head[0]
		// A lower number still being sealed goes first: wait for it,
		// and read the queue again.
		if waited, err := p.waitSealed(ctx, party, s.Seq); err != nil {
			return posted, refused, err
		} else if waited {
			continue // the queue may have a lower number now
		}
		var pr func(string, int64, int64)
		if s.ID == id {
			pr = progress
		}
		rc, err := p.postSealed(ctx, s, pr)
		if err == nil {
			unmarked = append(unmarked, postedLetter{s, rc})
			posted, after = append(posted, s), s.Seq
			continue
		}
		re, whole := refusal(err)
		if re == nil {
			if merr := p.markAttempt(s, err); merr != nil {
				err = errors.Join(err, merr)
			}
			return posted, refused, &QueuedError{ID: s.ID, Seq: s.Seq, Err: err}
		}
		// A refusal may seal a notice with an earlier number: what was
		// posted is recorded first, and the queue read from its start.
		if err := mark(); err != nil {
			return posted, refused, err
		}
		after = 0
		if whole {
			if head, err = p.queued(party); err != nil {
				return posted, refused, err
			}
		}
		rs, err := p.refuseQueued(head, re, !whole)
		refused = append(refused, rs...)
		if err != nil {
			return posted, refused, err
		}
	}
}

// queueHead returns the letter waiting to be posted to party with the
// lowest number above after, if any.
func (p *Party) queueHead(party string, after uint64) ([]*SentLetter, error) {
	return sentIndexed(p.db, "letters_queued", `state = 'queued' AND party = ? AND seq > ?`, `seq LIMIT 1`, party, int64(after))
}

// postedLetter is a letter posted and its verified posted receipt.
type postedLetter struct {
	s  *SentLetter
	rc *envelope.Receipt
}

// postSealed posts a queued letter from its sealed copy.
func (p *Party) postSealed(ctx context.Context, s *SentLetter, progress func(string, int64, int64)) (*envelope.Receipt, error) {
	eh, err := envelope.Parse(s.Envelope)
	if err != nil {
		return nil, fmt.Errorf("letter %s: its record's envelope: %w", s.ID, err)
	}
	r, err := p.openSealed(s.ID)
	if err != nil {
		return nil, fmt.Errorf("letter %s: %w", s.ID, err)
	}
	defer r.Close()
	return p.post(ctx, eh, r, progress)
}

// markPosted records the letters' posted receipts, in one transaction,
// which takes them off the outbox. The sealed copy of a heartbeat or test
// letter is removed: no person reads it again.
func (p *Party) markPosted(list []postedLetter) error {
	if len(list) == 0 {
		return nil
	}
	err := p.inTx(func(tx *sql.Tx) error {
		for _, l := range list {
			var r SentLetter
			if err := getLetter(tx, boxSent, l.s.ID, &r); err != nil {
				return err
			}
			r.addReceipt(l.rc)
			r.State, r.PostError = StatePosted, ""
			if err := putSentRecord(tx, &r, ""); err != nil {
				return err
			}
			if !hasDeadline(&r) {
				if _, err := tx.Exec(`DELETE FROM sealed WHERE id = ?`, r.ID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	for _, l := range list {
		if err == nil && !hasDeadline(l.s) {
			os.Remove(p.sealedPath(l.s.ID))
		}
	}
	return err
}

// markAttempt records a failed attempt to post a queued letter.
func (p *Party) markAttempt(s *SentLetter, cause error) error {
	now := p.now()
	return p.updateSent(s.ID, func(r *SentLetter) error {
		r.Attempts++
		r.LastAttempt = &now
		r.PostError = cause.Error()
		return nil
	})
}

// refuseQueued marks the letters refused for good and takes them off the
// outbox, highest number first, and sees that no number is left behind
// that would read as a missing letter. A number that is the last one
// taken on the channel is given back, in the transaction that marks its
// letter refused (takeSeq's transactions come before or after it, never
// between). Another one, with notice (a refusal of this one letter, not
// of the channel), goes to a notice letter sealed in its place; else, or
// for a notice refused in turn, it is given back to be taken first by the
// next letters (the channel refused them all, so none was posted after
// it).
func (p *Party) refuseQueued(letters []*SentLetter, re *RelayError, notice bool) ([]*SentLetter, error) {
	var out []*SentLetter
	for i := len(letters) - 1; i >= 0; i-- {
		s := letters[i]
		var r SentLetter
		err := p.inDurableTx(func(tx *sql.Tx) error {
			if err := getLetter(tx, boxSent, s.ID, &r); err != nil {
				return err
			}
			r.State, r.PostError, r.Refused = StateRefused, re.Message, re.Code
			last, err := lastTaken(tx, s.To, s.Seq)
			if err != nil {
				return err
			}
			r.NoticeDue = !last && notice && s.NoticeFor == ""
			if !r.NoticeDue {
				// The channel refused every letter above it, if any:
				// none was posted after it.
				if err := giveBack(tx, s.To, s.Seq); err != nil {
					return err
				}
			}
			return putSentRecord(tx, &r, "")
		})
		if err != nil {
			return out, err
		}
		out = append(out, s)
		if r.NoticeDue {
			// A crash or failure before the notice is recorded leaves it
			// due: sealDueNotices seals it before anything else goes.
			if err := p.sealNotice(s.To, s.Seq, s.ID, refusedNotice(s, re.Message)); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// sealNotice seals a notice letter with number seq on the channel to
// party, in place of the letter noticeFor ("-" for one never finished),
// with the body why.
func (p *Party) sealNotice(party string, seq uint64, noticeFor, why string) error {
	_, err := p.seal(Outgoing{To: party, Subject: NoticeSubject, Precedence: envelope.Routine, noticeFor: noticeFor,
		Body: []byte(why + "\nThis notice takes its number, so that no letter is missing.\n")}, seq)
	if err != nil {
		return fmt.Errorf("the notice that takes number %d was not sealed: %w", seq, err)
	}
	return nil
}

// refusedNotice is the text of the notice for a letter the relay refused.
func refusedNotice(s *SentLetter, reason string) string {
	return fmt.Sprintf("Letter %d (%s) was refused by the relay and not sent: %s.", s.Seq, s.ID, reason)
}

// sealDueNotices seals the notices that a refusal marked due and that a
// crash kept from being sealed: a refused letter of the channel to party
// with NoticeDue and no letter naming it in NoticeFor.
func (p *Party) sealDueNotices(party string) error {
	due, err := sentIndexed(p.db, "letters_refused", `state = 'refused' AND party = ? AND json_extract(record, '$.notice_due') = 1`, `seq`, party)
	if err != nil {
		return err
	}
	for _, s := range due {
		var n int
		err := p.db.QueryRow(`SELECT count(*) FROM letters WHERE box = 'sent' AND party = ? AND seq = ? AND json_extract(record, '$.notice_for') = ?`,
			party, int64(s.Seq), s.ID).Scan(&n)
		if err != nil {
			return err
		}
		if n == 0 {
			if err := p.sealNotice(party, s.Seq, s.ID, refusedNotice(s, s.PostError)); err != nil {
				return err
			}
		}
	}
	return nil
}

// NoticeSubject is the subject of the letter that takes the number of a
// letter the relay refused while later letters of its channel waited.
const NoticeSubject = "letter not sent"

// postLock takes the channel's post lock, waiting for it until ctx ends,
// and returns its release.
//
// The goroutines of this process first take turns on a semaphore of the
// channel's own, so that only one of them at a time waits on the file
// lock: many sends at once would otherwise hold as many threads in flock.
func (p *Party) postLock(ctx context.Context, party string) (func(), error) {
	v, _ := p.posting.LoadOrStore(party, make(chan struct{}, 1))
	turn := v.(chan struct{})
	select {
	case turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	unlock, err := p.postFileLock(ctx, party)
	if err != nil {
		<-turn
		return nil, err
	}
	return func() { unlock(); <-turn }, nil
}

// postFileLock takes the channel's post lock file, shared by the
// processes using the folder.
func (p *Party) postFileLock(ctx context.Context, party string) (func(), error) {
	return p.fileLock(ctx, "post-"+party, "post lock")
}

// fileLock takes the lock file locks/name, shared by the processes using
// the folder, waiting for it until ctx ends, and returns its release.
func (p *Party) fileLock(ctx context.Context, name, what string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(p.dir, "locks", name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to open the %s: %w", what, err)
	}
	done := make(chan error, 1)
	go func() { done <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("failed to take the %s: %w", what, err)
		}
		return func() { f.Close() }, nil
	case <-ctx.Done():
		go func() { <-done; f.Close() }()
		return nil, ctx.Err()
	}
}
