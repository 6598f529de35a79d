package light

import (
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	const m = time.Minute
	for _, c := range []struct {
		out, in time.Time
		want    string
	}{
		{ago(10 * time.Second), ago(30 * time.Second), Green},
		{ago(90 * time.Second), ago(90 * time.Second), Green},
		{ago(2 * m), ago(10 * time.Second), Amber},
		{ago(3 * m), ago(3 * m), Amber},
		{ago(4 * m), ago(10 * time.Second), Red},
		{time.Time{}, ago(10 * time.Second), Red},
		{time.Time{}, time.Time{}, Red},
	} {
		if got := Judge(now, c.out, c.in, m, m); got != c.want {
			t.Errorf("Judge(out %v ago, in %v ago) = %s, want %s", now.Sub(c.out), now.Sub(c.in), got, c.want)
		}
	}
	// Each direction by its own interval: traffic in 2 minutes ago is
	// green at 2 minutes in, amber at 1 minute, whatever the interval out.
	if got := Judge(now, ago(10*time.Second), ago(2*m), m, 2*m); got != Green {
		t.Errorf("in judged by 2 minutes: %s", got)
	}
	if got := Judge(now, ago(10*time.Second), ago(2*m), 2*m, m); got != Amber {
		t.Errorf("in judged by 1 minute: %s", got)
	}
	if got := Judge(now, ago(4*m), ago(10*time.Second), 2*m, m); got != Amber {
		t.Errorf("out judged by 2 minutes: %s", got)
	}
}
