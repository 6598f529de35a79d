package relay_test

import (
	"crypto/ed25519"
	"io"
	"net/http"
	"testing"

	"golang.org/x/mod/sumdb/note"
	sumdb "golang.org/x/mod/sumdb/tlog"

	"brieftraeger/internal/api"
	"brieftraeger/internal/tlspin"
	"brieftraeger/tlog"
)

// tileReader reads the relay's tiles for golang.org/x/mod/sumdb/tlog, the
// Go checksum database's own client library: an outside tool.
type tileReader struct {
	t      *testing.T
	client *http.Client
	url    string
}

func (r *tileReader) Height() int { return 8 }

func (r *tileReader) ReadTiles(tiles []sumdb.Tile) ([][]byte, error) {
	var out [][]byte
	for _, t := range tiles {
		path := tlog.TilePath(t.L == -1, t.L, uint64(t.N), t.W)
		resp, err := r.client.Get(r.url + api.PathLogTiles + path[len("tile/"):])
		if err != nil {
			return nil, err
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			r.t.Fatalf("%s: %s", path, resp.Status)
		}
		out = append(out, data)
	}
	return out, nil
}

func (r *tileReader) SaveTiles([]sumdb.Tile, [][]byte) {}

// TestTilesReadByOutsideTool has x/mod's sumdb/tlog, knowing only the
// checkpoint and the C2SP tlog-tiles layout, recompute the root of the
// relay's log from its tiles, and read the entries back.
func TestTilesReadByOutsideTool(t *testing.T) {
	w := newWorld(t, 64<<10)
	ks := w.Keys(w.wash)
	for range 3 {
		s := seal(t, w.wash, ks, "tehran", []byte("hello"), nil)
		if st, a := w.postAs(ks, s.frame()); st != http.StatusCreated {
			t.Fatalf("post: %d %s", st, a)
		}
	}
	cp := w.checkpoint(ks, 9) // three rosters, three envelopes, three posted receipts
	// Any TLS client may read the log: here one with a key on no roster.
	_, stranger, _ := ed25519.GenerateKey(nil)
	conf, _ := tlspin.ClientTLSConfig(stranger, w.Dir.Descriptor.TLSSHA256)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(w.URL + api.PathLogCheckpoint)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	v, _ := note.NewVerifier(w.Dir.Descriptor.LogKey)
	public, err := tlog.ParseCheckpoint(raw, w.Dir.Descriptor.LogOrigin, v)
	if err != nil || public.Size < cp.Size {
		t.Fatalf("public checkpoint: %v", err)
	}
	tr := &tileReader{t: t, client: hc, url: w.URL}
	hr := sumdb.TileHashReader(sumdb.Tree{N: int64(public.Size), Hash: sumdb.Hash(public.Root)}, tr)
	root, err := sumdb.TreeHash(int64(public.Size), hr)
	if err != nil || root != sumdb.Hash(public.Root) {
		t.Fatalf("x/mod's tlog recomputed %x from the tiles, checkpoint says %x: %v", root, public.Root, err)
	}
	// The entry bundle holds the leaf data the tiles hash.
	bundle, err := tr.ReadTiles([]sumdb.Tile{{H: 8, L: -1, N: 0, W: int(public.Size)}})
	if err != nil {
		t.Fatal(err)
	}
	if want := tlog.LeafData(tlog.KindRoster, w.wash.Roster().Raw); !containsEntry(bundle[0], want) {
		t.Fatal("washington's roster is not in the entry bundle")
	}
}

func containsEntry(bundle, want []byte) bool {
	for len(bundle) >= 2 {
		n := int(bundle[0])<<8 | int(bundle[1])
		if n+2 > len(bundle) {
			return false
		}
		if string(bundle[2:2+n]) == string(want) {
			return true
		}
		bundle = bundle[2+n:]
	}
	return false
}
