package relay

import (
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"brieftraeger/envelope"
	"brieftraeger/internal/api"
	"brieftraeger/store"
)

// latencyBuckets are the upper bounds, in seconds, of the
// brief_post_to_delivered_seconds histogram.
var latencyBuckets = [...]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// numPrecedences is the number of valid precedences (FLASH .. ROUTINE).
const numPrecedences = int(envelope.Routine) + 1

// metrics is the relay's small metrics registry, served by GET /metrics in
// the Prometheus text exposition format 0.0.4. Each relay has its own;
// nothing is registered globally.
type metrics struct {
	posted    [numPrecedences]atomic.Uint64 // new envelopes stored, by precedence
	delivered [numPrecedences]atomic.Uint64 // delivered receipts filed, by precedence

	// Post-to-delivered latency: per-bucket (not cumulative) counts, the
	// last one for observations above every bound, and the sum.
	latency    [len(latencyBuckets) + 1]atomic.Uint64
	latencySum atomic.Int64 // nanoseconds

	streams atomic.Int64 // open event streams

	refusedMu sync.Mutex
	refused   map[string]uint64 // refusals by API error code

}

func newMetrics() *metrics {
	m := &metrics{refused: map[string]uint64{}}
	// Known codes start at zero so that rate() sees their first refusal.
	for _, c := range []string{api.CodeMalformed, api.CodeTooLarge, api.CodeUnknownParty, api.CodeNoChannel,
		api.CodeNotOnRoster, api.CodeBadSignature, api.CodeReplay, api.CodeEpoch, api.CodeNotFound,
		api.CodeForbidden, api.CodeUnavailable, api.CodeConflict, api.CodeStorageFull} {
		m.refused[c] = 0
	}
	return m
}

// letterPosted counts a newly stored envelope (not a repost).
func (m *metrics) letterPosted(p envelope.Precedence) {
	if p.Valid() {
		m.posted[p].Add(1)
	}
}

// receiptFiled counts a newly filed receipt of kind for the stored
// envelope of precedence posted at postedAt; only delivered receipts are
// counted.
func (m *metrics) receiptFiled(kind envelope.Kind, precedence uint8, postedAt, now time.Time) {
	if kind != envelope.Delivered {
		return
	}
	if p := envelope.Precedence(precedence); p.Valid() {
		m.delivered[p].Add(1)
	}
	d := max(now.Sub(postedAt), 0)
	secs := d.Seconds()
	i := 0
	for i < len(latencyBuckets) && secs > latencyBuckets[i] {
		i++
	}
	m.latency[i].Add(1)
	m.latencySum.Add(int64(d))
}

// refusal counts a request answered with an API error.
func (m *metrics) refusal(code string) {
	m.refusedMu.Lock()
	m.refused[code]++
	m.refusedMu.Unlock()
}

// openStream counts an open event stream until the returned function is
// called: defer r.metrics.openStream()().
func (m *metrics) openStream() func() {
	m.streams.Add(1)
	return func() { m.streams.Add(-1) }
}

// metricsContentType is the Prometheus text exposition format 0.0.4.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// write writes every metric in the text exposition format; logLeaves is
// the tree size of the log's true history, pending the envelopes waiting
// per party, seen when each channel last carried a letter each way.
func (m *metrics) write(w io.Writer, logLeaves uint64, pending map[string]int, seen map[store.Direction]time.Time) {
	family := func(name, typ, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	byPrecedence := func(name, help string, v *[numPrecedences]atomic.Uint64) {
		family(name, "counter", help)
		for p := range v {
			fmt.Fprintf(w, "%s{precedence=\"%s\"} %d\n", name, escapeLabel(envelope.Precedence(p).String()), v[p].Load())
		}
	}
	byPrecedence("brief_letters_posted_total", "Envelopes newly stored, by precedence (reposts are not counted).", &m.posted)
	byPrecedence("brief_letters_delivered_total", "Delivered receipts newly filed, by precedence of the letter (duplicates are not counted).", &m.delivered)

	const lat = "brief_post_to_delivered_seconds"
	family(lat, "histogram", "Time from an envelope being stored to its delivered receipt being filed.")
	var cum uint64
	for i, le := range latencyBuckets {
		cum += m.latency[i].Load()
		fmt.Fprintf(w, "%s_bucket{le=\"%s\"} %d\n", lat, formatFloat(le), cum)
	}
	cum += m.latency[len(latencyBuckets)].Load()
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n", lat, cum)
	fmt.Fprintf(w, "%s_sum %s\n", lat, formatFloat(time.Duration(m.latencySum.Load()).Seconds()))
	fmt.Fprintf(w, "%s_count %d\n", lat, cum)

	family("brief_refused_total", "counter", "Requests refused, by API error code.")
	m.refusedMu.Lock()
	codes := make([]string, 0, len(m.refused))
	for c := range m.refused {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		fmt.Fprintf(w, "brief_refused_total{code=\"%s\"} %d\n", escapeLabel(c), m.refused[c])
	}
	m.refusedMu.Unlock()

	family("brief_log_leaves", "gauge", "Leaves in the relay's transparency log (tree size).")
	fmt.Fprintf(w, "brief_log_leaves %d\n", logLeaves)
	family("brief_event_streams", "gauge", "Open server-sent event streams.")
	fmt.Fprintf(w, "brief_event_streams %d\n", m.streams.Load())

	family("brief_mailbox_pending", "gauge", "Envelopes waiting for delivery, by recipient party.")
	parties := make([]string, 0, len(pending))
	for p := range pending {
		parties = append(parties, p)
	}
	slices.Sort(parties)
	for _, p := range parties {
		fmt.Fprintf(w, "brief_mailbox_pending{party=\"%s\"} %d\n", escapeLabel(p), pending[p])
	}

	family("brief_channel_last_letter_timestamp_seconds", "gauge",
		"When the newest envelope (letters and heartbeats alike) went from one party to the other, as of the log's last round.")
	keys := slices.SortedFunc(maps.Keys(seen), func(a, b store.Direction) int {
		return strings.Compare(a.From+" "+a.To, b.From+" "+b.To)
	})
	for _, d := range keys {
		fmt.Fprintf(w, "brief_channel_last_letter_timestamp_seconds{from=\"%s\",to=\"%s\"} %s\n",
			escapeLabel(d.From), escapeLabel(d.To), formatFloat(float64(seen[d].UnixMilli())/1000))
	}
}

func formatFloat(f float64) string {
	if math.IsInf(f, +1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// escapeLabel escapes a label value as the text format requires.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// serveMetrics answers GET /metrics, to the operator's admin key only: the
// per-channel times are metadata the parties' traffic must not leak to
// anyone else.
func (r *Relay) serveMetrics(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", metricsContentType)
	w.Header().Set("Cache-Control", "no-store")
	pending, err := r.cfg.Store.PendingCounts(req.Context())
	if err != nil {
		r.log.Warn("metrics: failed to count pending envelopes", "err", err)
	}
	seen, err := r.cfg.Store.Seen(req.Context())
	if err != nil {
		r.log.Warn("metrics: failed to read when channels last carried letters", "err", err)
	}
	r.metrics.write(w, r.logs.size(), pending, seen)
	r.space.writeMetrics(w)
	if r.cfg.Store.Replicated() {
		state, err := r.cfg.Store.ClusterState(req.Context())
		if err != nil {
			r.log.Warn("metrics: failed to read the cluster state", "err", err)
		}
		writeClusterMetrics(w, r.cfg.Store.Node(), r.cfg.Store.LogWriter(), state)
	}
}
