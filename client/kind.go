package client

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"brieftraeger/envelope"
	"brieftraeger/letter"
)

// Kind is what a letter is: one a person wrote, or one that a device sends
// on its own (a heartbeat, a test letter). Only a letter of kind
// KindTestLetter is acknowledged by a device without a person, and only
// heartbeats and test letters are left out of people's views.
type Kind string

// The kinds of letter.
const (
	KindLetter     Kind = "letter"      // written by a person: shown in full, acknowledged by a person
	KindHeartbeat  Kind = "heartbeat"   // exactly what SendHeartbeat makes: feeds the light
	KindTestLetter Kind = "test_letter" // exactly what SendTestLetter makes: acknowledged by the device
)

// System reports whether k is a heartbeat or a test letter: a letter that
// a device sends on its own, kept out of people's views.
func (k Kind) System() bool { return k == KindHeartbeat || k == KindTestLetter }

// systemForm is the exact form of a letter that a device sends on its own
// (sendJSONPart): its subject, precedence IMMEDIATE, no office, thread or
// reply-to, the body text, one JSON part of this name and media type, and
// at most the log checkpoint that Send appends to every letter, last.
type systemForm struct {
	kind      Kind
	subject   string
	body      string
	name      string
	mediaType string
	check     func(data []byte) error // decodes the JSON part strictly
}

var systemForms = []systemForm{
	{KindHeartbeat, HeartbeatSubject, HeartbeatBody, heartbeatName, HeartbeatMediaType, checkHeartbeat},
	{KindTestLetter, TestLetterSubject, TestLetterBody, testLetterName, TestLetterMediaType, checkTestLetter},
}

// formOf returns the form of a heartbeat or a test letter.
func formOf(k Kind) *systemForm {
	for i := range systemForms {
		if systemForms[i].kind == k {
			return &systemForms[i]
		}
	}
	panic("client: no form for letter kind " + string(k))
}

// KindOf returns what an opened letter is: the kind recorded when it was
// opened, or for a record from before kinds were recorded, the kind its
// files show now (classify).
func (p *Party) KindOf(rec *Received) Kind {
	if rec.Kind != "" {
		return rec.Kind
	}
	k, _ := classify(p.LetterDir(rec.ID), rec)
	return k
}

// classify returns the kind of an opened letter whose files are in dir. A
// letter is a heartbeat or a test letter only if it is exactly of that
// systemForm; any other letter is KindLetter, whatever parts it carries.
// The error says why a letter with a heartbeat's or test letter's subject
// is not one.
func classify(dir string, rec *Received) (Kind, error) {
	var form *systemForm
	for i := range systemForms {
		if systemForms[i].subject == rec.Subject {
			form = &systemForms[i]
		}
	}
	if form == nil {
		return KindLetter, nil
	}
	if err := form.match(dir, rec); err != nil {
		return KindLetter, fmt.Errorf("letter %s has the subject of a %s, but %w", rec.ID, form.subject, err)
	}
	return form.kind, nil
}

// match checks an opened letter against the form, from its signed header
// and its files in dir.
func (f *systemForm) match(dir string, rec *Received) error {
	h, err := letter.ParseHeader(rec.Header, nil)
	if err != nil {
		return err
	}
	switch {
	case h.Subject != f.subject || h.Precedence != envelope.Immediate:
		return fmt.Errorf("it is %s", h.Precedence)
	case h.Office != "" || len(h.Thread) != 0 || len(h.ReplyTo) != 0:
		return errors.New("it has an office, thread or reply-to")
	case len(h.Parts) < 2 || len(h.Parts) > 3 || len(rec.Parts) != len(h.Parts):
		return fmt.Errorf("it has %d parts", len(h.Parts))
	case h.Parts[1].Name != f.name || h.Parts[1].MediaType != f.mediaType:
		return fmt.Errorf("its first attachment is %q (%s)", h.Parts[1].Name, h.Parts[1].MediaType)
	case len(h.Parts) == 3 && (h.Parts[2].Name != gossipName || h.Parts[2].MediaType != GossipMediaType):
		return fmt.Errorf("its second attachment is %q (%s), not the log checkpoint", h.Parts[2].Name, h.Parts[2].MediaType)
	}
	body, err := readPartFile(dir, rec.Parts[0], "body")
	if err != nil {
		return err
	}
	if string(body) != f.body {
		return errors.New("its body is not the fixed text")
	}
	data, err := readPartFile(dir, rec.Parts[1], f.subject)
	if err != nil {
		return err
	}
	return f.check(data)
}

// systemPart returns the JSON part of an opened letter of kind k, read
// afresh and decoded strictly, or nil if the letter is not of that kind.
func systemPart[T any](p *Party, rec *Received, k Kind) (*T, error) {
	if p.KindOf(rec) != k {
		return nil, nil
	}
	f := formOf(k)
	if len(rec.Parts) < 2 {
		return nil, fmt.Errorf("letter %s: the %s has no %s part", rec.ID, f.subject, f.subject)
	}
	data, err := p.readSmallPart(rec, rec.Parts[1], f.subject)
	if err != nil {
		return nil, err
	}
	v := new(T)
	if err := strictJSON(data, v); err != nil {
		return nil, fmt.Errorf("letter %s: bad %s: %w", rec.ID, f.subject, err)
	}
	return v, nil
}

// checkHeartbeat accepts a heartbeat part: sent_at and a positive
// interval_s, nothing else.
func checkHeartbeat(data []byte) error {
	var hb Heartbeat
	if err := strictJSON(data, &hb); err != nil {
		return err
	}
	if hb.SentAt.IsZero() || !(hb.IntervalS > 0) {
		return errors.New("the heartbeat lacks sent_at or interval_s")
	}
	return nil
}

// checkTestLetter accepts a test letter part: sent_at and a nonce of 16
// bytes in hex, nothing else.
func checkTestLetter(data []byte) error {
	var tl TestLetter
	if err := strictJSON(data, &tl); err != nil {
		return err
	}
	if n, err := hex.DecodeString(tl.Nonce); tl.SentAt.IsZero() || err != nil || len(n) != 16 {
		return errors.New("the test letter lacks sent_at or a nonce of 32 hex digits")
	}
	return nil
}

// strictJSON decodes one JSON object into v, refusing unknown fields and
// anything after it.
func strictJSON(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

// readPartFile reads a part of an opened letter in dir whole, if it is at
// most maxSmallPart bytes and still has its signed size; what names the
// part in errors.
func readPartFile(dir string, part ReceivedPart, what string) ([]byte, error) {
	if part.Size > maxSmallPart {
		return nil, fmt.Errorf("the %s is %d bytes, more than the %d this device reads", what, part.Size, maxSmallPart)
	}
	f, err := os.Open(filepath.Join(dir, part.Path))
	if err != nil {
		return nil, fmt.Errorf("failed to read the %s: %w", what, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSmallPart+1))
	if err == nil && uint64(len(data)) != part.Size {
		err = fmt.Errorf("%d bytes on disk, %d signed", len(data), part.Size)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read the %s: %w", what, err)
	}
	return data, nil
}

// sentKind is the kind of a sent letter: the one its record holds, which
// Send sets (from sendJSONPart for heartbeats and test letters). A record
// written before records held a kind is judged as the code of that time
// made them: a heartbeat or a test letter had its subject and precedence
// IMMEDIATE. A person's IMMEDIATE letter of that time with such a subject
// is then taken for one, so it is left out of the receipts view (shown
// with --all) and has no delivery deadline; judging the other way would
// raise a false overdue alarm for every old heartbeat never delivered and
// fill the views with them.
func sentKind(s *SentLetter) Kind {
	if s.Kind != "" {
		return s.Kind
	}
	for _, f := range systemForms {
		if s.Subject == f.subject && s.Precedence == envelope.Immediate.String() {
			return f.kind
		}
	}
	return KindLetter
}
