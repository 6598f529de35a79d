package client

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"brieftraeger/envelope"
	"brieftraeger/tlog"
)

// SealedName is the file name of a letter's ciphertext, kept exactly as
// it travelled (the age file of PROTOCOL.md's "Sealed letter"), in its
// archive folder and in an export.
const SealedName = "letter.age"

// ErrNoSealedCopy means a letter has no sealed copy on this device: it
// was opened or sent by a version of brief that kept none.
var ErrNoSealedCopy = errors.New("no sealed copy of the letter on this device (letters opened or sent before brief kept one have none)")

// openSealed opens the sealed copy of letter id: in its archive folder if
// this device opened it, else, if this device sent it, in records.db (a
// small letter) or sent/ (sealedPath). The error wraps ErrNoSealedCopy if
// there is none.
func (p *Party) openSealed(id string) (io.ReadSeekCloser, error) {
	for _, path := range []string{filepath.Join(p.archivePath(id), SealedName), p.sealedPath(id)} {
		if f, err := os.Open(path); err == nil {
			return f, nil
		}
	}
	var data []byte
	err := p.db.QueryRow(`SELECT data FROM sealed WHERE id = ?`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoSealedCopy
	} else if err != nil {
		return nil, fmt.Errorf("failed to read the sealed letter: %w", err)
	}
	return nopCloser{bytes.NewReader(data)}, nil
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }

// Exported describes a letter written out by Export.
type Exported struct {
	ID         string `json:"id"`
	Dir        string `json:"dir"`
	Direction  string `json:"direction"` // "received" or "sent"
	From       string `json:"from"`      // party/device
	To         string `json:"to"`
	Subject    string `json:"subject"`
	Precedence string `json:"precedence"`
	Seq        uint64 `json:"seq"`
	Epoch      uint32 `json:"epoch"` // this party's epoch key that opens letter.age, 0 if none held
	// EpochDestroyed, when Epoch is 0, says which destroyed epoch
	// letter.age is sealed to, if this device can tell.
	EpochDestroyed string           `json:"epoch_destroyed,omitempty"`
	Files          []string         `json:"files"` // relative to Dir
	Receipts       []ExportedRecord `json:"receipts"`
	Log            []ExportedRecord `json:"log"`
}

// ExportedRecord is one receipt or one log record of an exported letter.
type ExportedRecord struct {
	Record string    `json:"record"` // envelope, posted, delivered or acknowledged
	Signer string    `json:"signer,omitempty"`
	Time   time.Time `json:"time,omitzero"`
	Logged bool      `json:"logged"`          // for Log: its inclusion proof verified
	Index  uint64    `json:"index,omitempty"` // for Log: its leaf index
	File   string    `json:"file,omitempty"`
}

// LogProofFile is the JSON form of one record's inclusion proof in an
// export (log/RECORD.json; see docs/PROTOCOL.md).
type LogProofFile struct {
	Record     string   `json:"record"`
	Leaf       string   `json:"leaf"` // leaf data, hex
	Index      uint64   `json:"index"`
	TreeSize   uint64   `json:"tree_size"`
	Root       string   `json:"root"`  // standard base64, as in the checkpoint
	Proof      []string `json:"proof"` // hashes, hex, RFC 6962 order
	Checkpoint string   `json:"checkpoint"`
}

// exportSource is what Export needs of a received or a sent letter.
type exportSource struct {
	direction string
	eh        *envelope.Header
	subject   string
	seq       uint64
	when      string // "created …" or "sealed …"
	sealedAt  time.Time
	receipts  [][]byte
}

// Export writes what a registry files about letter id (received or sent)
// into the new folder out: the sealed letter (letter.age), its signed
// envelope header, each receipt, the inclusion proof of each of those
// records in the relay's log with its checkpoint, and summary.txt. It
// refuses an out that exists and is not an empty folder. The folder is
// written under a temporary name and renamed, so it is complete or absent.
func (p *Party) Export(ctx context.Context, id, out string) (*Exported, error) {
	src, err := p.exportSource(id)
	if err != nil {
		return nil, err
	}
	if err := checkOut(out); err != nil {
		return nil, err
	}
	sealed, err := p.openSealed(id)
	if err != nil {
		return nil, fmt.Errorf("letter %s: %w", id, err)
	}
	defer sealed.Close()
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(out)), "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("failed to create export folder: %w", err)
	}
	defer os.RemoveAll(tmp)
	ex := &Exported{ID: id, Dir: out, Direction: src.direction, From: src.eh.From + "/" + src.eh.Device, To: src.eh.To,
		Subject: src.subject, Precedence: src.eh.Precedence.String(), Seq: src.seq}
	if ex.Epoch, err = p.copySealed(sealed, filepath.Join(tmp, SealedName), src.eh); err != nil {
		return nil, err
	}
	if ex.Epoch == 0 {
		if derr := p.sealedToDestroyed(src); derr != nil {
			ex.EpochDestroyed = derr.Error()
		}
	}
	if err := p.exportRecords(ctx, tmp, src, ex); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(tmp, "summary.txt"), []byte(summary(ex, src, p.now())), 0o600); err != nil {
		return nil, err
	}
	ex.Files = append([]string{SealedName, "envelope.bin"}, append(ex.Files, "summary.txt")...)
	if err := syncDir(tmp); err != nil {
		return nil, err
	}
	// os.Rename refuses to replace even an empty folder; os.Remove
	// removes nothing else.
	if err := os.Remove(out); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("failed to replace the empty folder %s: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, fmt.Errorf("failed to move the export into place: %w", err)
	}
	return ex, syncDir(filepath.Dir(filepath.Clean(out)))
}

// checkOut refuses an export folder that exists and is not empty.
func checkOut(out string) error {
	entries, err := os.ReadDir(out)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("%s exists and is not a folder brief can export into: %w", out, err)
	case len(entries) > 0:
		return fmt.Errorf("%s exists and is not empty; export into a new folder", out)
	}
	return nil
}

// exportSource finds letter id in the archive, else among the sent letters.
func (p *Party) exportSource(id string) (*exportSource, error) {
	rec, s, err := p.findLetter(id)
	if err != nil {
		return nil, err
	}
	if rec != nil {
		eh, err := envelope.Parse(rec.Envelope)
		if err != nil {
			return nil, fmt.Errorf("letter %s: %w", id, err)
		}
		return &exportSource{direction: "received", eh: eh, subject: rec.Subject, seq: rec.Seq,
			when: "created " + rec.Created.UTC().Format(time.RFC3339) + ", opened " + rec.OpenedAt.UTC().Format(time.RFC3339), receipts: rec.Receipts}, nil
	}
	eh, err := envelope.Parse(s.Envelope)
	if err != nil {
		return nil, fmt.Errorf("letter %s: %w", id, err)
	}
	return &exportSource{direction: "sent", eh: eh, subject: s.Subject, seq: s.Seq, sealedAt: s.SealedAt,
		when: "sealed " + s.SealedAt.UTC().Format(time.RFC3339), receipts: s.Receipts}, nil
}

// sealedToDestroyed returns an *EpochDestroyedError if the letter's
// sealed copy is sealed to an epoch of this party that this device
// destroyed: a received letter's epoch is in its envelope; a sent one's is
// found from when it was sealed.
func (p *Party) sealedToDestroyed(src *exportSource) error {
	if src.direction == "received" {
		return p.destroyedEpoch(src.eh.Epoch)
	}
	return p.destroyedSince(src.sealedAt)
}

// copySealed copies the sealed letter to dst, checking it against the
// envelope's signed size and digest, and returns the number of this
// party's epoch key that opens it (0 if this device holds none that does).
func (p *Party) copySealed(in io.Reader, dst string, eh *envelope.Header) (uint32, error) {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	digest := envelope.NewDigest()
	n, err := io.Copy(io.MultiWriter(f, digest), in)
	if err != nil {
		return 0, fmt.Errorf("failed to copy the sealed letter: %w", err)
	}
	if uint64(n) != eh.Size || !bytes.Equal(digest.Sum(nil), eh.Digest[:]) {
		return 0, errors.New("the sealed copy does not match the envelope's signed size and digest")
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return p.epochOpening(dst), nil
}

// epochOpening returns the number of the epoch key this device holds that
// opens the age file at path (only its header is read), or 0.
func (p *Party) epochOpening(path string) uint32 {
	for n, id := range p.epochKeys() {
		f, err := os.Open(path)
		if err != nil {
			return 0
		}
		_, err = age.Decrypt(f, id)
		f.Close()
		if err == nil {
			return n
		}
	}
	return 0
}

// exportRecords writes the envelope, the receipts and the log proofs.
func (p *Party) exportRecords(ctx context.Context, dir string, src *exportSource, ex *Exported) error {
	if err := writeFile(filepath.Join(dir, "envelope.bin"), src.eh.Raw, 0o600); err != nil {
		return err
	}
	records := []struct {
		name string
		leaf []byte
	}{{"envelope", tlog.LeafData(tlog.KindEnvelope, src.eh.Raw)}}
	for _, raw := range src.receipts {
		rc, err := envelope.ParseReceipt(raw)
		if err != nil {
			return fmt.Errorf("letter %s: a recorded receipt: %w", ex.ID, err)
		}
		file := filepath.Join("receipts", rc.Kind.String()+".bin")
		if err := writeFile(filepath.Join(dir, file), raw, 0o600); err != nil {
			return err
		}
		ex.Files = append(ex.Files, file)
		ex.Receipts = append(ex.Receipts, ExportedRecord{Record: rc.Kind.String(), Signer: rc.Party + "/" + rc.Signer, Time: rc.Time, File: file})
		records = append(records, struct {
			name string
			leaf []byte
		}{rc.Kind.String(), tlog.LeafData(tlog.KindReceipt, raw)})
	}
	for _, r := range records {
		lp, err := p.logProof(ctx, r.leaf)
		if errors.Is(err, ErrNotLogged) {
			ex.Log = append(ex.Log, ExportedRecord{Record: r.name})
			continue
		} else if err != nil {
			return fmt.Errorf("letter %s: %s: %w", ex.ID, r.name, err)
		}
		lp.Record = r.name
		file := filepath.Join("log", r.name+".json")
		if err := writeJSONFile(filepath.Join(dir, file), lp); err != nil {
			return err
		}
		ex.Files = append(ex.Files, file)
		ex.Log = append(ex.Log, ExportedRecord{Record: r.name, Logged: true, Index: lp.Index, File: file})
	}
	return nil
}

// logProof fetches and verifies leaf's inclusion proof (as VerifyLogged)
// and returns it with the checkpoint it verified against.
func (p *Party) logProof(ctx context.Context, leaf []byte) (*LogProofFile, error) {
	idx, proof, cp, err := p.verifyLogged(ctx, leaf)
	if err != nil {
		return nil, err
	}
	lp := &LogProofFile{Leaf: hex.EncodeToString(leaf), Index: idx, TreeSize: cp.Size,
		Root: base64.StdEncoding.EncodeToString(cp.Root[:]), Proof: []string{}, Checkpoint: string(cp.Note)}
	for _, h := range proof {
		lp.Proof = append(lp.Proof, hex.EncodeToString(h[:]))
	}
	return lp, nil
}

// summary is summary.txt: the letter, its receipts and log records, and
// how to check and open it, in plain text.
func summary(ex *Exported, src *exportSource, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Brieftraeger letter %s (%s)\nexported %s\n\n", ex.ID, ex.Direction, now.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "from:       %s\nto:         %s\nsubject:    %q\nprecedence: %s\nsequence:   %d\ndate:       %s\nepoch:      %d of %s (the recipient's epoch key it is sealed to)\nsize:       %d bytes sealed\n",
		ex.From, ex.To, ex.Subject, ex.Precedence, ex.Seq, src.when, src.eh.Epoch, src.eh.To, src.eh.Size)
	fmt.Fprintf(&b, "envelope hash: %x\n\nreceipts:\n", src.eh.Hash())
	if len(ex.Receipts) == 0 {
		b.WriteString("  none\n")
	}
	for _, r := range ex.Receipts {
		fmt.Fprintf(&b, "  %-13s %s  signed by %s  (%s)\n", r.Record, r.Time.UTC().Format("2006-01-02 15:04:05.000Z"), r.Signer, r.File)
	}
	b.WriteString("\nthe relay's log:\n")
	for _, r := range ex.Log {
		if r.Logged {
			fmt.Fprintf(&b, "  %-13s leaf %d, inclusion proof verified  (%s)\n", r.Record, r.Index, r.File)
		} else {
			fmt.Fprintf(&b, "  %-13s not yet in the relay's log\n", r.Record)
		}
	}
	b.WriteString("\nfiles:\n  letter.age      the sealed letter, exactly as it travelled (an age file)\n  envelope.bin    the signed envelope header\n  receipts/       each signed receipt\n  log/            each record's inclusion proof, with the signed checkpoint it is against\n\n")
	if ex.Epoch != 0 {
		fmt.Fprintf(&b, "To open it with the stock age tool, export this party's epoch key %d:\n  brief party export-key --epoch %d --out epoch-%d.key\n  age -d -i epoch-%d.key letter.age > letter.plain\n", ex.Epoch, ex.Epoch, ex.Epoch, ex.Epoch)
	} else if ex.EpochDestroyed != "" {
		fmt.Fprintf(&b, "letter.age is %s.\n", ex.EpochDestroyed)
	} else {
		b.WriteString("This device holds none of the epoch keys that open letter.age (destroyed, or never held).\n")
	}
	b.WriteString("letter.plain is laid out as docs/PROTOCOL.md \"Letter plaintext\" says: magic, header, the body and\nattachments in order, the signed digests and signature, zero padding. 'brief export' checked\nletter.age against the envelope's signed size and digest; the envelope and receipts are signed\n(docs/PROTOCOL.md, \"Envelope\" and \"Receipt\").\n")
	return b.String()
}

// ExportEpochKey writes this party's epoch key n to the new file out as
// an age identity file that the stock age CLI takes with -i: comment
// lines, then the identity (AGE-SECRET-KEY-PQ-1…). If passphrase is not
// empty the file is that identity file sealed with age's scrypt
// passphrase recipient, which age asks the passphrase for; else it is the
// identity file in plain text. out gets mode 0600 and is never
// overwritten: it appears complete or not at all.
func (p *Party) ExportEpochKey(n uint32, out, passphrase string) error {
	id := p.epochKeys()[n]
	if id == nil {
		return fmt.Errorf("this device holds no epoch key %d (held: %s)", n, p.heldEpochs())
	}
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("%s exists; brief does not overwrite a key file", out)
	}
	text := fmt.Sprintf("# brieftraeger epoch key %d of party %s, exported by device %s at %s\n# it opens letters sealed to this epoch: age -d -i FILE letter.age\n%s\n",
		n, p.Name(), p.Device(), p.now().UTC().Format(time.RFC3339), id.String())
	data := []byte(text)
	if passphrase != "" {
		r, err := age.NewScryptRecipient(passphrase)
		if err != nil {
			return fmt.Errorf("failed to seal the key file: %w", err)
		}
		var buf bytes.Buffer
		w, err := age.Encrypt(&buf, r)
		if err == nil {
			_, err = w.Write(data)
		}
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			return fmt.Errorf("failed to seal the key file: %w", err)
		}
		data = buf.Bytes()
	}
	return writeNewFile(out, data)
}

// heldEpochs lists the numbers of the epoch keys this device holds.
func (p *Party) heldEpochs() string {
	var s []string
	for _, e := range p.Roster().Epochs {
		if p.epochKeys()[e.Number] != nil {
			s = append(s, fmt.Sprint(e.Number))
		}
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// writeNewFile writes data to the new file name, mode 0600: a synced
// temporary file hard-linked to name, which fails if name exists.
func writeNewFile(name string, data []byte) error {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(f.Name(), name); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists; brief does not overwrite a key file", name)
		}
		return err
	}
	return syncDir(dir)
}
