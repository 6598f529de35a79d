package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Object store upload. Bodies are written in the JetStream Object Store
// format (chunks on $O.bodies.C.<random>, then a meta message on
// $O.bodies.M.<base64url(id)>), so the jetstream ObjectStore API and the
// nats tool read them. The store writes them itself rather than with
// ObjectStore.Put because Put publishes every chunk before it waits for any
// ack: with an in-process server the whole body would queue in memory.
// Here at most uploadWindow chunks are in flight.
const (
	chunkSize    = 128 << 10
	uploadWindow = 8
)

// putBody streams r into the object store as object id. It returns once all
// chunks and the meta message are durable. On failure it removes the chunks
// it wrote and returns r's error if r failed.
func (s *Store) putBody(ctx context.Context, id string, r *verifier) error {
	// Stop uploading when ctx ends (r checks it), but always finish the
	// clean-up. Each request still has the JetStream default timeout.
	pctx := context.WithoutCancel(ctx)
	old, err := s.bodies.GetInfo(pctx, id, jetstream.GetObjectInfoShowDeleted())
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("failed to read body object: %w", err)
	}
	info := jetstream.ObjectInfo{
		ObjectMeta: jetstream.ObjectMeta{Name: id, Opts: &jetstream.ObjectMetaOptions{ChunkSize: chunkSize}},
		Bucket:     bucketBodies,
		NUID:       rand.Text(), // unique per upload, like the nuid that ObjectStore.Put uses
	}
	chunkSubj := "$O." + bucketBodies + ".C." + info.NUID

	var inflight []jetstream.PubAckFuture
	wait := func(f jetstream.PubAckFuture) error {
		select {
		case <-f.Ok():
			return nil
		case err := <-f.Err():
			return err
		}
	}
	fail := func(err error) error {
		for _, f := range inflight {
			_ = wait(f)
		}
		if perr := s.bodyStream.Purge(pctx, jetstream.WithPurgeSubject(chunkSubj)); perr != nil {
			s.log.Error("failed to remove the chunks of a failed body", "id", id, "err", perr)
		}
		if r.err != nil {
			return r.err
		}
		return fmt.Errorf("failed to store body: %w", err)
	}

	// The Object Store meta carries the plain SHA-256 of the object; r
	// hashes with Config.BodyHash, which may differ.
	var plain hash.Hash
	if s.cfg.BodyHash != nil {
		plain = sha256.New()
	}
	var bufs [uploadWindow][]byte // a chunk buffer is reused only after its ack
	for i := 0; ; i++ {
		if len(inflight) == uploadWindow {
			f := inflight[0]
			inflight = inflight[1:] // a future answers once: fail must not wait for it again
			if err := wait(f); err != nil {
				return fail(err)
			}
		}
		buf := bufs[i%uploadWindow]
		if buf == nil {
			buf = make([]byte, chunkSize)
			bufs[i%uploadWindow] = buf
		}
		n, rerr := io.ReadFull(r, buf)
		if plain != nil {
			plain.Write(buf[:n])
		}
		if n > 0 {
			m := nats.NewMsg(chunkSubj)
			m.Data = buf[:n]
			f, err := s.bodyJS.PublishMsgAsync(m)
			if err != nil {
				return fail(err)
			}
			inflight = append(inflight, f)
			info.Chunks++
			info.Size += uint64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fail(rerr)
		}
	}
	for len(inflight) > 0 {
		f := inflight[0]
		inflight = inflight[1:]
		if err := wait(f); err != nil {
			return fail(err)
		}
	}

	// r has checked size and hash at EOF.
	digest := r.h.Sum(nil)
	if plain != nil {
		digest = plain.Sum(nil)
	}
	info.Digest = "SHA-256=" + base64.URLEncoding.EncodeToString(digest)
	meta := nats.NewMsg("$O." + bucketBodies + ".M." + base64.URLEncoding.EncodeToString([]byte(id)))
	meta.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	if meta.Data, err = json.Marshal(info); err != nil {
		return fail(err)
	}
	if _, err := s.js.PublishMsg(pctx, meta); err != nil {
		return fail(err)
	}
	// A body left by an earlier failed attempt is replaced; drop its chunks.
	if old != nil && old.NUID != "" {
		if err := s.bodyStream.Purge(pctx, jetstream.WithPurgeSubject("$O."+bucketBodies+".C."+old.NUID)); err != nil {
			s.log.Warn("failed to remove replaced body chunks", "id", id, "err", err)
		}
	}
	return nil
}

// dropBody deletes the body object of id if there is one. Used after a
// failed Post; errors are only logged.
func (s *Store) dropBody(ctx context.Context, id string) {
	ctx, cancel := commitContext(ctx)
	defer cancel()
	_, err := s.bodies.GetInfo(ctx, id)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return
	}
	if err == nil {
		err = s.bodies.Delete(ctx, id)
	}
	if err != nil {
		s.log.Error("failed to delete the body of a failed post", "id", id, "err", err)
	}
}

// verifier reads a body, counting and hashing it. It fails the read with
// ErrBodyMismatch as soon as the body runs longer than declared, and at EOF
// when it is short or its hash differs; it fails with ctx's error once ctx
// ends. r must be limited to size+1 bytes.
type verifier struct {
	ctx  context.Context
	r    io.Reader
	size int64
	want [32]byte
	h    hash.Hash
	n    int64
	err  error // the error returned, if any
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if err := v.ctx.Err(); err != nil {
		v.err = fmt.Errorf("failed to read body: %w", err)
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.n += int64(n)
	v.h.Write(p[:n])
	switch {
	case v.n > v.size:
		v.err = fmt.Errorf("%w: body is longer than the declared %d bytes", ErrBodyMismatch, v.size)
	case err == io.EOF && v.n < v.size:
		v.err = fmt.Errorf("%w: body has %d bytes, declared %d", ErrBodyMismatch, v.n, v.size)
	case err == io.EOF && !bytes.Equal(v.h.Sum(nil), v.want[:]):
		v.err = fmt.Errorf("%w: body hash differs", ErrBodyMismatch)
	case err == io.EOF:
		return n, io.EOF
	case err != nil:
		v.err = fmt.Errorf("failed to read body: %w", err)
	default:
		return n, nil
	}
	return 0, v.err
}

// Letter keeps in memory the bodies of up to 2*hotSize letters of at most
// hotMax bytes each (32 MiB of bodies, with their envelope headers) that
// this store committed lately.
const (
	hotMax  = 16 << 10
	hotSize = 1024
)

// Recent returns letter id's envelope and body, without reading anything,
// if this store committed it lately and holds it in memory (a body of at
// most hotMax bytes, checked when it was posted); false otherwise. The
// body must not be changed.
func (s *Store) Recent(id string) (Stored, []byte, bool) {
	env, ok := s.hot.Get(id)
	if !ok {
		return Stored{}, nil, false
	}
	return env.Stored, env.inline, true
}

// Body streams the body of letter id, from the MAIL message or the object
// store. The reader fails with ErrBodyMismatch at the end if the bytes do
// not match the stored size and SHA-256. It holds at most one chunk
// (128 KiB) in memory. The caller must close it.
func (s *Store) Body(ctx context.Context, id string) (io.ReadCloser, error) {
	_, body, err := s.Letter(ctx, id)
	return body, err
}

// Letter returns letter id's envelope, read once, and a reader of its
// body as Body does. Its Delivered is not looked up (false). A small
// letter this store committed lately comes from memory (MAIL messages
// never change), as its recipient fetches it right after it was posted.
func (s *Store) Letter(ctx context.Context, id string) (Stored, io.ReadCloser, error) {
	if err := checkID(id); err != nil {
		return Stored{}, nil, err
	}
	lctx, done, err := s.begin(ctx)
	if err != nil {
		return Stored{}, nil, err
	}
	defer done()
	env, ok := s.hot.Get(id)
	if !ok {
		env, err = s.lookupEnvelope(lctx, id, s.lastFor)
	}
	if err != nil {
		return Stored{}, nil, err
	}
	var r io.Reader = bytes.NewReader(env.inline)
	if env.object {
		info, err := s.bodies.GetInfo(lctx, id)
		if err != nil {
			return Stored{}, nil, fmt.Errorf("failed to read body of %s: %w", id, err)
		}
		// The reader lives on after this call, so it uses ctx.
		r = &chunkReader{ctx: ctx, st: s.bodyStream, subj: "$O." + bucketBodies + ".C." + info.NUID, left: info.Chunks}
	}
	v := &verifier{ctx: ctx, r: io.LimitReader(r, env.BodySize+1), size: env.BodySize, want: env.BodySHA256, h: s.bodyHash()}
	return env.Stored, io.NopCloser(v), nil
}

// chunkReader reads an object's chunks one at a time with direct gets, so
// that at most one chunk is in memory however large the body.
type chunkReader struct {
	ctx  context.Context
	st   jetstream.Stream
	subj string // the object's chunk subject
	next uint64 // stream sequence to search the next chunk from
	left uint32 // chunks not yet fetched
	buf  []byte // unread part of the current chunk
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		if c.left == 0 {
			return 0, io.EOF
		}
		m, err := c.st.GetMsg(c.ctx, c.next, jetstream.WithGetMsgSubject(c.subj))
		if err != nil {
			return 0, fmt.Errorf("failed to read body chunk: %w", err)
		}
		c.buf, c.next, c.left = m.Data, m.Sequence+1, c.left-1
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}
