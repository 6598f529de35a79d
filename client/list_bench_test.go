package client_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/internal/testrelay"
)

// archiveSize is the number of letters BenchmarkListSearch lists and
// searches, the size the registry's archive must stay fast at.
const archiveSize = 100_000

// BenchmarkListSearch fills a party's archive with 100,000 letters of
// varied subjects and bodies (about 60 words each, drawn from 8,000 words
// with a Zipf law), then times List: a search for a word that 10 letters
// hold (rare), for one that a third of them hold (common, so the newest
// 100 are taken from some 33,000), for two words together, a plain
// listing of the newest 100, with heartbeats and test letters (--all),
// and a thread.
func BenchmarkListSearch(b *testing.B) {
	if testing.Short() {
		b.Skip("fills an archive of 100,000 letters")
	}
	w := testrelay.Start(b, testrelay.Options{})
	p := w.Party("tehran")
	fill := time.Now()
	if err := client.FillArchive(p, "washington", time.Unix(1.7e9, 0), archiveSize, archiveWords()); err != nil {
		b.Fatal(err)
	}
	threadID := list(b, p, client.ListFilter{Search: "quetzal"})[0].ID
	b.Logf("filled %d letters in %v", archiveSize, time.Since(fill).Round(time.Millisecond))
	for _, c := range []struct {
		name string
		f    client.ListFilter
		want int
	}{
		{"rare", client.ListFilter{Search: "quetzal"}, archiveSize / 10_000},
		{"common", client.ListFilter{Search: "wheat"}, 100},
		{"two-words", client.ListFilter{Search: "wheat harvest"}, 100},
		{"list", client.ListFilter{}, 100},
		{"thread", client.ListFilter{Thread: threadID}, 1},
		{"all", client.ListFilter{All: true, Box: "received"}, 100},
		{"party", client.ListFilter{Party: "washington"}, 100},
		{"party-search", client.ListFilter{Party: "washington", Search: "quetzal"}, archiveSize / 10_000},
	} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				list, err := p.List(c.f)
				if err != nil {
					b.Fatal(err)
				}
				if len(list) != c.want {
					b.Fatalf("%d letters, want %d", len(list), c.want)
				}
			}
		})
	}
}

func list(b *testing.B, p *client.Party, f client.ListFilter) []client.Listed {
	l, err := p.List(f)
	if err != nil || len(l) == 0 {
		b.Fatalf("list: %v %v", err, l)
	}
	return l
}

// archiveWords returns the subject and body of letter i: words of a
// vocabulary of 8,000 drawn with a Zipf law, "wheat" in every third
// letter, "harvest" in every second, "quetzal" in every 10,000th.
func archiveWords() func(i int) (string, string) {
	syl := strings.Fields("ka lo mi ne su ta ri po ve du ga li mo ze fa ni ro be tu sa")
	vocab := make([]string, 0, len(syl)*len(syl)*len(syl))
	for _, a := range syl {
		for _, b := range syl {
			for _, c := range syl {
				vocab = append(vocab, a+b+c)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(r, 1.1, 1, uint64(len(vocab)-1))
	draw := func(n int) []string {
		out := make([]string, n)
		for k := range out {
			out[k] = vocab[zipf.Uint64()]
		}
		return out
	}
	return func(i int) (string, string) {
		subject, body := draw(4), draw(50+r.IntN(20))
		if i%3 == 0 {
			body[0] = "wheat"
		}
		if i%2 == 0 {
			body[len(body)-1] = "harvest"
		}
		if i%10_000 == 0 {
			subject[0] = "quetzal"
		}
		return strings.Join(subject, " "), strings.Join(body, " ")
	}
}
