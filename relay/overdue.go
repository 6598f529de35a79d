package relay

import (
	"cmp"
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"

	"brieftraeger/envelope"
	"brieftraeger/internal/api"
	"brieftraeger/store"
)

// overdue counts, per direction and precedence, the letters waiting in
// their recipient's mailbox past their delivery deadline
// (Config.Deadlines), counted from when the relay stored them, at the
// relay's clock; the oldest due first. It reads only the mailboxes that
// hold letters.
func (r *Relay) overdue(ctx context.Context) ([]api.Overdue, error) {
	counts, err := r.cfg.Store.PendingCounts(ctx)
	if err != nil {
		return nil, err
	}
	now := r.cfg.Now()
	type key struct {
		d    store.Direction
		prec envelope.Precedence
	}
	rows := map[key]*api.Overdue{}
	for _, party := range slices.Sorted(maps.Keys(counts)) {
		if counts[party] == 0 {
			continue
		}
		list, err := r.cfg.Store.Pending(ctx, party)
		if err != nil {
			return nil, err
		}
		for _, st := range list {
			prec := envelope.Precedence(st.Precedence)
			due := st.Time.Add(r.cfg.Deadlines.Of(prec))
			if !now.After(due) {
				continue
			}
			k := key{store.Direction{From: st.From, To: st.To}, prec}
			o := rows[k]
			if o == nil {
				o = &api.Overdue{From: st.From, To: st.To, Precedence: prec.String(), OldestPostedAt: st.Time, OldestDue: due}
				rows[k] = o
			}
			o.Count++
			if due.Before(o.OldestDue) {
				o.OldestPostedAt, o.OldestDue = st.Time, due
			}
		}
	}
	out := []api.Overdue{}
	for _, o := range rows {
		out = append(out, *o)
	}
	slices.SortFunc(out, func(a, b api.Overdue) int {
		return cmp.Or(a.OldestDue.Compare(b.OldestDue), strings.Compare(a.From+" "+a.To+" "+a.Precedence, b.From+" "+b.To+" "+b.Precedence))
	})
	return out, nil
}

// overdueCounts counts the overdue letters each way.
func overdueCounts(list []api.Overdue) map[store.Direction]int {
	n := map[store.Direction]int{}
	for _, o := range list {
		n[store.Direction{From: o.From, To: o.To}] += o.Count
	}
	return n
}

func (r *Relay) listOverdue(w http.ResponseWriter, req *http.Request) {
	list, err := r.overdue(req.Context())
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}
