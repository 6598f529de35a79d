package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Post is an envelope handed to the store by the relay, with its body.
type Post struct {
	ID         string    // letter id, 32 lowercase hex chars; used as Nats-Msg-Id for dedup
	From, To   string    // sender party, recipient party (party names are [a-z0-9-]{1,32})
	Precedence uint8     // 0..3 (0 = FLASH highest ... 3 = ROUTINE)
	Header     []byte    // the signed envelope header, opaque to store (<= 64 KiB)
	Body       io.Reader // ciphertext, streamed; never held whole in memory when larger than InlineLimit
	BodySize   int64     // exact expected length
	BodySHA256 [32]byte  // expected SHA-256 of the body bytes (or Config.BodyHash)
	Time       time.Time // relay's accept time, stored so that receipts can be re-derived; zero means now
	// Retry says the sender may have posted this letter before (its client
	// is trying again): the id is looked up before the body is read, so
	// that a repost does not join a group commit, which the server would
	// refuse whole.
	Retry bool
}

// Stored is the metadata of a stored envelope (no body).
type Stored struct {
	Seq        uint64 // MAIL stream sequence
	ID         string
	From, To   string
	Precedence uint8
	Header     []byte
	BodySize   int64
	BodySHA256 [32]byte
	Time       time.Time // as given in Post.Time, in UTC
	Delivered  bool      // a delivered receipt has been stored for it
}

var (
	// ErrDuplicate is returned with the original Stored (or StoredReceipt)
	// when the letter id (or the receipt) was stored before.
	ErrDuplicate = errors.New("store: letter id already posted")
	// ErrBodyMismatch means the body read differs from its declared size or
	// hash; nothing was stored.
	ErrBodyMismatch = errors.New("store: body does not match its declared size or hash")
	// ErrTooLarge means the declared body size is over Config.MaxBodyBytes;
	// nothing was read or stored.
	ErrTooLarge = errors.New("store: body too large")
)

// Message headers of MAIL and BOX messages.
const (
	hdrID        = "Bt-Id"
	hdrFrom      = "Bt-From"
	hdrTo        = "Bt-To"
	hdrPrec      = "Bt-Prec"
	hdrSize      = "Bt-Size"
	hdrSHA256    = "Bt-Sha256"
	hdrTime      = "Bt-Time"       // unix nanoseconds
	hdrHeaderLen = "Bt-Header-Len" // MAIL only: payload = header || inline body
	hdrBody      = "Bt-Body"       // MAIL only: "inline" or "object"
	hdrNonce     = "Bt-Post"       // MAIL only: the nonce of the post that stored it
	hdrSeq       = "Bt-Seq"        // BOX only: the MAIL sequence
	hdrKind      = "Bt-Kind"       // RCPT only
)

func mailSubject(id string) string { return "mail." + id }

func boxSubject(st Stored) string {
	return "box." + st.To + "." + strconv.Itoa(int(st.Precedence)) + "." + st.ID
}

// envelope is a decoded MAIL message.
type envelope struct {
	Stored
	object bool   // the body is in the object store
	inline []byte // the body, when not object
	nonce  string // random, per Post: tells a post its own MAIL message
}

func metaHeader(st Stored) nats.Header {
	return nats.Header{
		hdrID:     {st.ID},
		hdrFrom:   {st.From},
		hdrTo:     {st.To},
		hdrPrec:   {strconv.Itoa(int(st.Precedence))},
		hdrSize:   {strconv.FormatInt(st.BodySize, 10)},
		hdrSHA256: {hex.EncodeToString(st.BodySHA256[:])},
		hdrTime:   {strconv.FormatInt(st.Time.UnixNano(), 10)},
	}
}

func decodeMeta(h nats.Header) (Stored, error) {
	var st Stored
	st.ID, st.From, st.To = h.Get(hdrID), h.Get(hdrFrom), h.Get(hdrTo)
	prec, err1 := strconv.ParseUint(h.Get(hdrPrec), 10, 8)
	size, err2 := strconv.ParseInt(h.Get(hdrSize), 10, 64)
	sum, err3 := hex.DecodeString(h.Get(hdrSHA256))
	nanos, err4 := strconv.ParseInt(h.Get(hdrTime), 10, 64)
	if err := errors.Join(checkID(st.ID), checkParty(st.From), checkParty(st.To), err1, err2, err3, err4); err != nil {
		return Stored{}, fmt.Errorf("failed to decode envelope metadata: %w", err)
	}
	if len(sum) != sha256.Size || prec > 3 || size < 0 {
		return Stored{}, errors.New("failed to decode envelope metadata: bad hash, precedence or size")
	}
	st.Precedence, st.BodySize = uint8(prec), size
	copy(st.BodySHA256[:], sum)
	st.Time = time.Unix(0, nanos).UTC()
	return st, nil
}

// decodeEnvelope decodes a MAIL message. data may be nil when only the
// headers were fetched; then Header and inline stay empty.
func decodeEnvelope(h nats.Header, data []byte) (envelope, error) {
	st, err := decodeMeta(h)
	if err != nil {
		return envelope{}, err
	}
	env := envelope{Stored: st, object: h.Get(hdrBody) == "object", nonce: h.Get(hdrNonce)}
	if data == nil {
		return env, nil
	}
	hlen, err := strconv.Atoi(h.Get(hdrHeaderLen))
	if err != nil || hlen < 0 || hlen > len(data) {
		return envelope{}, fmt.Errorf("failed to decode envelope %s: bad header length", st.ID)
	}
	env.Header, env.inline = data[:hlen:hlen], data[hlen:]
	if !env.object && int64(len(env.inline)) != st.BodySize || env.object && len(env.inline) != 0 {
		return envelope{}, fmt.Errorf("failed to decode envelope %s: payload does not fit the body size", st.ID)
	}
	return env, nil
}

func decodeBox(h nats.Header, data []byte) (Stored, error) {
	st, err := decodeMeta(h)
	if err != nil {
		return Stored{}, err
	}
	if st.Seq, err = strconv.ParseUint(h.Get(hdrSeq), 10, 64); err != nil {
		return Stored{}, fmt.Errorf("failed to decode mailbox entry %s: %w", st.ID, err)
	}
	st.Header = data
	return st, nil
}

func checkPost(p *Post) error {
	if err := errors.Join(checkID(p.ID), checkParty(p.From), checkParty(p.To)); err != nil {
		return err
	}
	switch {
	case p.Precedence > 3:
		return fmt.Errorf("%w: precedence %d is not 0..3", ErrInvalid, p.Precedence)
	case len(p.Header) > MaxHeaderBytes:
		return fmt.Errorf("%w: envelope header of %d bytes is over %d", ErrInvalid, len(p.Header), MaxHeaderBytes)
	case p.BodySize < 0:
		return fmt.Errorf("%w: negative body size", ErrInvalid)
	}
	return nil
}

// Lookup returns the stored envelope with letter id, or ErrNotFound.
func (s *Store) Lookup(ctx context.Context, id string) (Stored, error) {
	if err := checkID(id); err != nil {
		return Stored{}, err
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return Stored{}, err
	}
	defer done()
	env, err := s.lookup(ctx, id)
	return env.Stored, err
}

// lookup reads the MAIL message of id (a direct get of mail.<id>, asked
// again of the leader on a miss) and whether it has been delivered.
func (s *Store) lookup(ctx context.Context, id string) (envelope, error) {
	return s.lookupWith(ctx, id, s.lastFor)
}

// lookupLocal is lookup without asking the leader again: for Post's
// check for a repost, where a miss on a lagging replica costs nothing,
// because the MAIL message's Nats-Msg-Id and expected subject sequence
// refuse a second copy, and the refused post then looks the first up.
func (s *Store) lookupLocal(ctx context.Context, id string) (envelope, error) {
	return s.lookupWith(ctx, id, func(ctx context.Context, st jetstream.Stream, subj string) (*jetstream.RawStreamMsg, error) {
		return st.GetLastMsgForSubject(ctx, subj)
	})
}

func (s *Store) lookupWith(ctx context.Context, id string, get func(context.Context, jetstream.Stream, string) (*jetstream.RawStreamMsg, error)) (envelope, error) {
	env, err := s.lookupEnvelope(ctx, id, get)
	if err != nil {
		return envelope{}, err
	}
	if env.Delivered, err = s.hasReceipt(ctx, env.From, ReceiptDelivered, id); err != nil {
		return envelope{}, err
	}
	return env, nil
}

// lookupEnvelope reads and decodes the MAIL message of id with get,
// without looking up whether it has been delivered.
func (s *Store) lookupEnvelope(ctx context.Context, id string, get func(context.Context, jetstream.Stream, string) (*jetstream.RawStreamMsg, error)) (envelope, error) {
	m, err := get(ctx, s.mail, mailSubject(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return envelope{}, fmt.Errorf("letter %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return envelope{}, fmt.Errorf("failed to read letter %s: %w", id, err)
	}
	env, err := decodeEnvelope(m.Header, m.Data)
	if err != nil {
		return envelope{}, err
	}
	env.Seq = m.Sequence
	return env, nil
}

// Post stores an envelope and its body, and returns only once both are
// durable. The body is checked against BodySize and BodySHA256 as it is
// read; on a mismatch, a read error or a canceled ctx nothing stays stored.
//
// The letter's mailbox entry is filed right after, in the background: see
// "The mailbox (BOX) and crashes" in the package documentation. Until it
// is filed, Pending of the recipient on this store waits for it (up to
// filingWait).
//
// If id was posted before, Post returns the original with ErrDuplicate.
// The body is not read then if it is large (over Config.InlineLimit), if
// p.Retry is set, or if this store filed the letter lately. If Post
// returns another error together with a non-zero Stored, the letter is
// stored but its mailbox entry failed; posting again returns it with
// ErrDuplicate and files the entry.
func (s *Store) Post(ctx context.Context, p Post) (Stored, error) {
	if err := checkPost(&p); err != nil {
		return Stored{}, err
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return Stored{}, err
	}
	// An inline body is read before the id is locked, so that a slow
	// sender cannot hold the id up, nor the log, which waits for ids.
	var in *inlineBody
	if _, filed := s.filed.Get(p.ID); p.BodySize <= int64(s.cfg.InlineLimit) && !filed && !p.Retry {
		in = &inlineBody{}
		in.data, in.err = s.readBody(ctx, p)
	}
	unlock, err := s.locks.lock(ctx, p.ID)
	if err != nil {
		done()
		return Stored{}, err
	}
	st, file, err := s.post(ctx, p, in)
	if file == nil {
		unlock()
		done()
		return st, err
	}
	// The id stays locked, and the store open, until the entry is filed.
	go func() {
		defer done()
		defer unlock()
		file()
	}()
	return st, err
}

// inlineBody is an inline letter's body, read before its id was locked.
type inlineBody struct {
	data []byte
	err  error // the read failed; ErrBodyMismatch: the body is not the declared one
}

// bodyOf returns a reader of p's body that checks it against its declared
// size and hash.
func (s *Store) bodyOf(ctx context.Context, p Post) *verifier {
	r := p.Body
	if r == nil {
		r = bytes.NewReader(nil)
	}
	return &verifier{ctx: ctx, r: io.LimitReader(r, p.BodySize+1), size: p.BodySize, want: p.BodySHA256, h: s.bodyHash()}
}

// readBody reads p's body whole, checked against its declared size and
// hash.
func (s *Store) readBody(ctx context.Context, p Post) ([]byte, error) {
	buf := bytes.NewBuffer(make([]byte, 0, p.BodySize+1))
	if _, err := buf.ReadFrom(s.bodyOf(ctx, p)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// post is Post with the id locked; in is the inline body Post read, if
// it did. It returns the letter's filing step, to be run once, if the
// letter was stored now.
func (s *Store) post(ctx context.Context, p Post, in *inlineBody) (Stored, func(), error) {
	var mail *ticket
	if in != nil {
		if in.err != nil {
			if errors.Is(in.err, ErrBodyMismatch) {
				// A repost is answered whatever its body.
				if st, err := s.repost(ctx, p.ID, false); !errors.Is(err, ErrNotFound) {
					return st, nil, err
				}
			}
			return Stored{}, nil, in.err
		}
		// Announce the letter to the MAIL committer now: it reaches the
		// batch within microseconds, so a batch forming meanwhile waits
		// for it. A large body may take long to stream, so commit
		// announces it later.
		mail = s.mailQ.expect()
		defer mail.done()
	} else {
		// A large body is looked for first, so that a repost is not read
		// and stored again; so is a letter this store filed lately, or one
		// whose sender says it is trying again, whose MAIL message would
		// make the server refuse a whole group commit. Any other inline
		// body was read first, and its MAIL message finds out (Nats-Msg-Id
		// and expected subject sequence).
		_, filed := s.filed.Get(p.ID)
		if st, err := s.repost(ctx, p.ID, filed); !errors.Is(err, ErrNotFound) {
			return st, nil, err
		}
	}
	if p.BodySize > s.cfg.MaxBodyBytes {
		return Stored{}, nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, p.BodySize, s.cfg.MaxBodyBytes)
	}
	if p.Time.IsZero() {
		p.Time = time.Now()
	}
	env := envelope{
		Stored: Stored{
			ID: p.ID, From: p.From, To: p.To, Precedence: p.Precedence,
			Header: bytes.Clone(p.Header), BodySize: p.BodySize, BodySHA256: p.BodySHA256,
			Time: time.Unix(0, p.Time.UnixNano()).UTC(),
		},
		object: p.BodySize > int64(s.cfg.InlineLimit),
		nonce:  rand.Text(),
	}
	switch {
	case env.object:
		if err := s.putBody(ctx, p.ID, s.bodyOf(ctx, p)); err != nil {
			s.dropBody(ctx, p.ID)
			return Stored{}, nil, err
		}
	case in != nil:
		env.inline = in.data
	default:
		// Filed lately, or sent again, yet not found: read it now, under
		// the lock.
		data, err := s.readBody(ctx, p)
		if err != nil {
			return Stored{}, nil, err
		}
		env.inline = data
	}
	return s.commit(ctx, env, mail)
}

// repost answers the post of a letter id that may be stored already: the
// original with ErrDuplicate, after making sure it is filed; ErrNotFound
// if the replica asked does not hold it (then MAIL's deduplication refuses
// a second copy, and the refused post looks the first up). If stored says
// the letter is known to be stored, a miss is asked again of the stream's
// leader. The id lock is held.
func (s *Store) repost(ctx context.Context, id string, stored bool) (Stored, error) {
	look := s.lookupLocal
	if stored {
		look = s.lookup
	}
	orig, err := look(ctx, id)
	if err != nil {
		return Stored{}, err
	}
	if err := s.ensureBox(ctx, orig.Stored); err != nil {
		return orig.Stored, err
	}
	return orig.Stored, ErrDuplicate
}

// commit publishes the MAIL message, the commit point, in a group commit
// (an atomic batch shared with concurrent posts), and returns once it is
// durable, with the step that files the mailbox entry. mail, if not nil,
// is the letter's announcement to the MAIL committer. The id lock is held.
func (s *Store) commit(ctx context.Context, env envelope, mail *ticket) (Stored, func(), error) {
	ctx, cancel := commitContext(ctx)
	defer cancel()
	if mail == nil {
		mail = s.mailQ.expect()
		defer mail.done()
	}
	// Held until the entry is filed: a checkpoint covers whole commits.
	s.commitMu.RLock()
	box := s.boxQ.expect()
	abort := func() { box.done(); s.commitMu.RUnlock() }

	res := mail.publish(commitMailMsg(env))
	if res.alone || refused(res.err) {
		// Too few posts for a batch; or the batch was refused as a whole,
		// so nothing of it is stored (another message in it may have
		// conflicted). Publish this message on its own.
		res = s.publishAlone(ctx, commitMailMsg(env))
	}
	if res.err == nil && !res.dup {
		env.Seq = res.seq
	} else {
		// The id is stored already, or the outcome is unknown (the server
		// may have stored the message and failed to answer).
		orig, err := s.stored(ctx, env, res)
		if err != nil || orig.nonce != env.nonce {
			abort()
			return s.settle(ctx, env, orig, err)
		}
		// Ours: an earlier try of this very publish whose answer was lost
		// (on a cluster a request to a stream leader that died is sent
		// again, and the new leader knows the first). Go on to file it.
		env.Seq = orig.Seq
	}
	storeMax(&s.mailSeq, env.Seq)
	s.committed.Put(env.Seq, env.Stored)
	if !env.object && len(env.inline) <= hotMax {
		s.hot.Put(env.ID, env)
	}
	filed := s.filing.start(env.To)
	early := s.announceHere(env.Stored)
	return env.Stored, func() {
		defer abort()
		defer filed()
		s.file(env.Stored, box, early)
	}, nil
}

// stored looks up the letter whose MAIL publish came back as a duplicate
// or failed (res).
func (s *Store) stored(ctx context.Context, env envelope, res commitRes) (envelope, error) {
	orig, err := s.lookup(ctx, env.ID)
	switch {
	case res.err == nil && err != nil:
		return envelope{}, fmt.Errorf("failed to read the original of a duplicate letter: %w", err)
	case res.err != nil && errors.Is(err, ErrNotFound):
		if env.object {
			s.dropBody(ctx, env.ID)
		}
		return envelope{}, fmt.Errorf("failed to store envelope: %w", res.err)
	case res.err != nil && err != nil:
		s.markDirty("envelope", res.err)
		return envelope{}, fmt.Errorf("failed to store envelope: %w", res.err)
	}
	return orig, nil
}

// settle ends a post whose letter id turned out to be stored by another
// post (orig), or whose MAIL message failed (err).
func (s *Store) settle(ctx context.Context, env envelope, orig envelope, err error) (Stored, func(), error) {
	if err != nil {
		return Stored{}, nil, err
	}
	if env.object && !orig.object {
		s.dropBody(ctx, env.ID)
	}
	if err := s.ensureBox(ctx, orig.Stored); err != nil {
		return orig.Stored, nil, fmt.Errorf("letter stored but not filed in the mailbox: %w", err)
	}
	return orig.Stored, nil, ErrDuplicate
}

// file writes the mailbox entry of st, whose MAIL message is durable. A
// failure leaves the store out of step until the next Open repairs it; on
// a cluster the relay's log writer files it sooner (EnsureFiled). early
// says that watchers on this store were told of st before it was filed
// (announceHere).
func (s *Store) file(st Stored, box *ticket, early bool) {
	ctx, cancel := commitContext(context.Background())
	defer cancel()
	// A dup here means the entry is there already.
	res := box.publish(boxMsg(st))
	retried := false
	switch {
	case res.alone:
		res = s.publishAlone(ctx, boxMsg(st))
	case res.err != nil:
		// The batch failed: refused whole, or with its outcome unknown, as
		// when the stream's leader died. The entry is written only if there
		// is none, so it may be sent again, with time of its own; but if
		// the batch was stored and the letter delivered and taken out of
		// the mailbox meanwhile, it must not be listed again.
		rctx, rcancel := commitContext(context.Background())
		defer rcancel()
		if delivered, err := s.hasReceipt(rctx, st.From, ReceiptDelivered, st.ID); err == nil && delivered {
			return
		}
		res = s.publishAlone(rctx, boxMsg(st))
		retried = true
	}
	if res.err != nil {
		s.markDirty("mailbox entry", fmt.Errorf("letter %s: %w", st.ID, res.err))
		return
	}
	if (early || retried) && s.deliveredMeanwhile(ctx, st) {
		return
	}
	// Announced to every store only now: a recipient who fetched the
	// letter and filed its delivered receipt through another store before
	// the entry was written would have had the entry purged too early, and
	// listed again.
	s.announce(st)
	s.filed.Put(st.ID, struct{}{})
	s.log.Debug("letter filed", "id", st.ID, "seq", st.Seq, "to", st.To, "precedence", st.Precedence,
		"size", st.BodySize)
}

// deliveredMeanwhile takes the just written entry of st out again if st's
// delivered receipt was filed meanwhile through another store, whose purge
// then came before the entry: after the recipient was told of st early
// (see Watch), or after a filing that went by an earlier read saying st
// was not delivered (EnsureFiled, a repair, the retry of a failed batch).
// Where no other store shares the streams, the id lock rules that out and
// nothing is read. The receipt is read from the leader of RCPT:
// another store writes it before it purges, so if that purge came before
// this entry, the receipt is there to be read now.
func (s *Store) deliveredMeanwhile(ctx context.Context, st Stored) bool {
	if !s.cfg.shared() {
		return false
	}
	_, err := s.lastFromLeader(ctx, streamReceipts, receiptSubject(st.From, ReceiptDelivered, st.ID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false
	}
	if err == nil {
		err = s.purge(ctx, s.box, boxSubject(st))
		if err == nil {
			return true
		}
	}
	s.log.Warn("failed to check for a delivered receipt after filing; the letter may be listed again", "id", st.ID, "err", err)
	return false
}

// mailMsg encodes env as its MAIL message.
func mailMsg(env envelope) *nats.Msg {
	msg := nats.NewMsg(mailSubject(env.ID))
	msg.Header = metaHeader(env.Stored)
	msg.Header.Set(hdrHeaderLen, strconv.Itoa(len(env.Header)))
	if env.object {
		msg.Header.Set(hdrBody, "object")
	} else {
		msg.Header.Set(hdrBody, "inline")
	}
	if env.nonce != "" {
		msg.Header.Set(hdrNonce, env.nonce)
	}
	msg.Data = slices.Concat(env.Header, env.inline)
	return msg
}

// commitMailMsg is mailMsg with the headers that make mail.<id> hold one
// message: Nats-Msg-Id = id and Nats-Expected-Last-Subject-Sequence = 0.
// JetStream honours both inside an atomic batch as well.
func commitMailMsg(env envelope) *nats.Msg {
	msg := mailMsg(env)
	msg.Header.Set(jetstream.MsgIDHeader, env.ID)
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	return msg
}

// boxMsg encodes the BOX entry of st, to be written only if there is none.
func boxMsg(st Stored) *nats.Msg {
	msg := nats.NewMsg(boxSubject(st))
	msg.Header = metaHeader(st)
	msg.Header.Set(hdrSeq, formatUint(st.Seq))
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	msg.Data = st.Header
	return msg
}

// putBox writes the BOX entry of st unless it exists, on its own, and
// announces it, unless st turns out to be delivered meanwhile.
func (s *Store) putBox(ctx context.Context, st Stored) error {
	if res := s.publishAlone(ctx, boxMsg(st)); res.err != nil {
		return fmt.Errorf("failed to write mailbox entry: %w", res.err)
	}
	if !s.deliveredMeanwhile(ctx, st) {
		s.announce(st)
	}
	return nil
}

// notePrefix starts the core NATS subjects of announcements: the subject
// of a letter's mailbox entry after it, which no stream stores.
const notePrefix = "note."

// announce tells the watchers of st.To's mailbox (Watch), on every node,
// that letter st is filed: a core NATS message like its mailbox entry, on
// note.box.<party>.<precedence>.<id>, sent once the entry is durable.
func (s *Store) announce(st Stored) {
	msg := boxMsg(st)
	msg.Subject = notePrefix + msg.Subject
	msg.Header.Del(jetstream.ExpectedLastSubjSeqHeader)
	if err := s.nc.PublishMsg(msg); err != nil {
		s.log.Warn("failed to announce a letter", "id", st.ID, "err", err)
	}
}

// ensureBox files st in the mailbox if it is not delivered and not there,
// finishing a Post whose second step failed. The id lock is held.
func (s *Store) ensureBox(ctx context.Context, st Stored) error {
	if st.Delivered {
		return nil
	}
	_, err := s.box.GetLastMsgForSubject(ctx, boxSubject(st))
	if !errors.Is(err, jetstream.ErrMsgNotFound) {
		if err != nil {
			return fmt.Errorf("failed to read mailbox: %w", err)
		}
		return nil
	}
	ctx, cancel := commitContext(ctx)
	defer cancel()
	return s.putBox(ctx, st)
}

// Pending returns the envelopes addressed to party that have no delivered
// receipt yet, ordered by Precedence, then Seq. It reads only party's
// mailbox (BOX entries box.<party>.*.*), never its delivered history.
func (s *Store) Pending(ctx context.Context, party string) ([]Stored, error) {
	if err := checkParty(party); err != nil {
		return nil, err
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	// Entries being filed are waited for, but not for long: a filing held
	// up by an election must not hold up the whole listing. An entry
	// filed later is announced (Watch).
	wctx, cancel := context.WithTimeout(ctx, filingWait)
	err = s.filing.wait(wctx, party)
	cancel()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("failed to read mailbox of %s: %w", party, ctx.Err())
	}
	if err != nil {
		s.log.Warn("listing a mailbox before all its entries are filed", "party", party, "err", err)
	}
	var out []Stored
	err = s.scan(ctx, s.box, "box."+party+".*.*", 0, false, func(m jetstream.Msg) error {
		st, err := decodeBox(m.Headers(), m.Data())
		if err != nil {
			s.log.Error("skipping undecodable mailbox entry", "subject", m.Subject(), "err", err)
			return nil
		}
		out = append(out, st)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to read mailbox of %s: %w", party, err)
	}
	out = s.current(ctx, party, out)
	slices.SortFunc(out, func(a, b Stored) int {
		if a.Precedence != b.Precedence {
			return int(a.Precedence) - int(b.Precedence)
		}
		return compareUint(a.Seq, b.Seq)
	})
	return out, nil
}

// current keeps, of the mailbox entries of party that a listing read,
// those that the leader of BOX holds. A listing reads through an
// ephemeral consumer, which nats-server places on any one of the
// stream's servers; one that is still catching up, after a restart say,
// can list entries that the leader has already removed: letters
// delivered meanwhile. The leader answers stream info. Without a leader
// (an election) a member answers with its own view, so then, or if no
// answer comes, the listing is returned as read.
func (s *Store) current(ctx context.Context, party string, listed []Stored) []Stored {
	if !s.Replicated() || len(listed) == 0 {
		return listed
	}
	ctx, cancel := context.WithTimeout(ctx, s.requestTimeout())
	defer cancel()
	info, err := s.box.Info(ctx, jetstream.WithSubjectFilter("box."+party+".*.*"))
	if err == nil && (info.Cluster == nil || info.Cluster.Leader == "") {
		err = errors.New("the stream has no leader")
	}
	if err != nil {
		s.log.Debug("listing a mailbox without its leader's check", "party", party, "err", err)
		return listed
	}
	held := listed[:0]
	for _, st := range listed {
		if info.State.Subjects[boxSubject(st)] > 0 {
			held = append(held, st)
		}
	}
	return held
}

func compareUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// MailCount returns the number of envelopes stored.
func (s *Store) MailCount(ctx context.Context) (uint64, error) {
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	info, err := s.mail.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("failed to read mail stream: %w", err)
	}
	return info.State.Msgs, nil
}

// PendingCounts returns, for each party with envelopes waiting, how many
// wait: the mailbox entries by recipient, from the BOX stream's subject
// counts (no message is read).
func (s *Store) PendingCounts(ctx context.Context) (map[string]int, error) {
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	info, err := s.box.Info(ctx, jetstream.WithSubjectFilter("box.>"))
	if err != nil {
		return nil, fmt.Errorf("failed to count pending envelopes: %w", err)
	}
	out := map[string]int{}
	for subj, n := range info.State.Subjects {
		if parts := strings.SplitN(subj, ".", 3); len(parts) == 3 {
			out[parts[1]] += int(n)
		}
	}
	return out, nil
}

// EnsureFiled makes sure that the stored letter st (as RecordsAfter
// returns it; ID, To and Precedence are used), unless delivered, has its
// mailbox entry. A post files the entry itself right after the letter is
// durable; this is the invariant checked once more afterwards (the relay
// does it as it logs each letter), so that a letter stored and
// acknowledged is listed for delivery whatever went wrong in between.
// Where this store filed the entry lately that takes no read, and where
// the entry is there, one.
func (s *Store) EnsureFiled(ctx context.Context, st Stored) error {
	if err := errors.Join(checkID(st.ID), checkParty(st.To)); err != nil || st.Precedence > 3 {
		return fmt.Errorf("%w: not a stored letter", ErrInvalid)
	}
	ctx, done, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	unlock, err := s.locks.lock(ctx, st.ID)
	if err != nil {
		return err
	}
	defer unlock()
	if _, ok := s.filed.Get(st.ID); ok {
		return nil
	}
	if _, err := s.box.GetLastMsgForSubject(ctx, boxSubject(st)); err == nil {
		return nil
	}
	// Not on the replica asked: file it unless it is delivered (or not
	// stored at all). The entry is written only if there is none.
	env, err := s.lookup(ctx, st.ID)
	if err != nil || env.Delivered {
		return err
	}
	ctx, cancel := commitContext(ctx)
	defer cancel()
	return s.putBox(ctx, env.Stored)
}
