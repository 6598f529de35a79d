package relay

import (
	"context"
	"maps"
	"net/http"
	"slices"

	"brieftraeger/envelope"
	"brieftraeger/internal/api"
	"brieftraeger/store"
)

// overdue lists the letters waiting in their recipient's mailbox past
// their delivery deadline (Config.Deadlines), counted from when the relay
// stored them, at the relay's clock; the first due first. It reads only
// the mailboxes that hold letters.
func (r *Relay) overdue(ctx context.Context) ([]api.Overdue, error) {
	counts, err := r.cfg.Store.PendingCounts(ctx)
	if err != nil {
		return nil, err
	}
	now := r.cfg.Now()
	out := []api.Overdue{}
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
			if due := st.Time.Add(r.cfg.Deadlines.Of(prec)); now.After(due) {
				out = append(out, api.Overdue{ID: st.ID, From: st.From, To: st.To, Precedence: prec.String(), PostedAt: st.Time, Due: due})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b api.Overdue) int { return a.Due.Compare(b.Due) })
	return out, nil
}

// overdueCounts counts the overdue letters each way.
func overdueCounts(list []api.Overdue) map[store.Direction]int {
	n := map[store.Direction]int{}
	for _, o := range list {
		n[store.Direction{From: o.From, To: o.To}]++
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
