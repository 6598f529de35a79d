package client

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"brieftraeger/envelope"
	"brieftraeger/internal/api"
	"brieftraeger/tlog"
)

// AuditReport is the verdict of Audit.
type AuditReport struct {
	Origin      string   `json:"origin"`
	Size        uint64   `json:"size"`
	Root        string   `json:"root"`         // base64, as in the checkpoint
	TreeMatches bool     `json:"tree_matches"` // the leaves the relay served recompute to the checkpoint's root
	Records     int      `json:"records"`      // local records looked for in the log
	Missing     []string `json:"missing"`      // local records not among the leaves
	// NotPosted lists the letters this device sealed that the relay never
	// acknowledged (waiting in the outbox, or refused), and that its log
	// rightly does not hold: not a failure.
	NotPosted []string `json:"not_posted"`
	OK        bool     `json:"ok"`
}

// Audit fetches the relay's whole log up to its latest checkpoint (which
// must be consistent with the checkpoints this device accepted before),
// recomputes the Merkle tree from the leaves and compares its root with
// the checkpoint's, and looks up every record this device holds: the
// envelopes and receipts of the letters it sent and received, and every
// version of its contacts' rosters. progress, if not nil, is called with
// the leaves fetched so far.
func (p *Party) Audit(ctx context.Context, progress func(done, total uint64)) (*AuditReport, error) {
	cp, err := p.SyncLog(ctx)
	if err != nil {
		return nil, err
	}
	rep := &AuditReport{Origin: cp.Origin, Size: cp.Size, Root: base64.StdEncoding.EncodeToString(cp.Root[:]), Missing: []string{}, NotPosted: []string{}}
	var tree tlog.Tree
	have := make(map[[32]byte]bool, min(cp.Size, 1<<20))
	for tree.Size() < cp.Size {
		var page api.LogLeaves
		path := api.PathLogLeaves + "?start=" + strconv.FormatUint(tree.Size(), 10) + "&count=" + strconv.Itoa(api.MaxLogLeaves) + "&min=" + strconv.FormatUint(cp.Size, 10)
		if err := p.getJSON(ctx, path, &page); err != nil {
			return nil, fmt.Errorf("failed to fetch log leaves: %w", err)
		}
		if page.Start != tree.Size() || len(page.Leaves) == 0 {
			return nil, fmt.Errorf("relay answered leaves from %d for %d", page.Start, tree.Size())
		}
		for _, l := range page.Leaves {
			if tree.Size() == cp.Size {
				break
			}
			tree.Append(l)
			have[tlog.LeafHash(l)] = true
		}
		if progress != nil {
			progress(tree.Size(), cp.Size)
		}
	}
	root, err := tree.Root(cp.Size)
	if err != nil {
		return nil, err
	}
	rep.TreeMatches = root == cp.Root
	records, err := p.localRecords()
	if err != nil {
		return nil, err
	}
	for _, r := range records {
		logged := have[tlog.LeafHash(tlog.LeafData(r.kind, r.raw))]
		switch {
		case r.unposted == "":
			rep.Records++
			if !logged {
				rep.Missing = append(rep.Missing, r.what)
			}
		case logged && r.unposted == StateRefused:
			// The relay said it refused the letter, yet logged it.
			rep.Records++
			rep.Missing = append(rep.Missing, r.what+": refused by the relay, yet in its log")
		case !logged:
			rep.NotPosted = append(rep.NotPosted, r.what+": "+notPostedWhy(r.unposted))
		}
	}
	rep.OK = rep.TreeMatches && len(rep.Missing) == 0
	return rep, nil
}

// notPostedWhy says, for the state of an unposted letter, why the log
// does not hold it.
func notPostedWhy(state string) string {
	switch state {
	case StateQueued:
		return "never posted: it waits in the outbox"
	case StateRefused:
		return "never posted: the relay refused it"
	}
	return "never posted: its post failed, and the relay never acknowledged it"
}

// localRecord is a record this device holds that the log must contain.
type localRecord struct {
	what string
	kind tlog.Kind
	raw  []byte
	// unposted, for the envelope of a letter the relay never acknowledged
	// (no receipt at all), is its state: the log need not hold it.
	unposted string
}

// localRecords lists the envelopes and receipts of sent and received
// letters and the roster versions of the contacts.
func (p *Party) localRecords() ([]localRecord, error) {
	var out []localRecord
	add := func(what string, kind tlog.Kind, raw []byte) {
		out = append(out, localRecord{what: what, kind: kind, raw: raw})
	}
	addReceipts := func(id string, raws [][]byte) {
		for _, raw := range raws {
			if rc, err := envelope.ParseReceipt(raw); err == nil {
				add("letter "+id+": "+rc.Kind.String()+" receipt", tlog.KindReceipt, raw)
			}
		}
	}
	sent, err := sentWhere(p.db, `1`, `at, n`)
	if err != nil {
		return nil, err
	}
	for _, s := range sent {
		id := s.ID
		if len(s.Receipts) == 0 {
			out = append(out, localRecord{what: "letter " + id, kind: tlog.KindEnvelope, raw: s.Envelope, unposted: s.state()})
			continue
		}
		add("letter "+id+": envelope", tlog.KindEnvelope, s.Envelope)
		addReceipts(id, s.Receipts)
	}
	received, err := receivedWhere(p.db, `1`, `at, n`)
	if err != nil {
		return nil, err
	}
	for _, rec := range received {
		add("letter "+rec.ID+": envelope", tlog.KindEnvelope, rec.Envelope)
		addReceipts(rec.ID, rec.Receipts)
	}
	contacts, err := os.ReadDir(filepath.Join(p.dir, "contacts"))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	for _, e := range contacts {
		party, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		c, err := p.contactFile(party)
		if err != nil {
			return nil, err
		}
		for i, raw := range c.Chain {
			add(fmt.Sprintf("roster of %s #%d", party, i+1), tlog.KindRoster, raw)
		}
	}
	return out, nil
}
