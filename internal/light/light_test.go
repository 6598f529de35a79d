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
		if got := Judge(now, c.out, c.in, m); got != c.want {
			t.Errorf("Judge(out %v ago, in %v ago) = %s, want %s", now.Sub(c.out), now.Sub(c.in), got, c.want)
		}
	}
}
