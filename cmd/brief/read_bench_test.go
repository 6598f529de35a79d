package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"brieftraeger/client"
	"brieftraeger/internal/testrelay"
)

// BenchmarkRead1GiB reads a letter with a 1 GiB body through a real relay
// on 127.0.0.1 as 'brief read' does (Receive, then the terminal's
// screenful) and reports how far the heap and the resident set grew at
// their peak: they stay flat, whatever the body's size. The relay runs in
// the same process, so its memory is counted too.
func BenchmarkRead1GiB(b *testing.B) {
	if testing.Short() {
		b.Skip("sends 1 GiB through the relay")
	}
	w := testrelay.Start(b, testrelay.Options{})
	wash, teh := w.Party("washington"), w.Party("tehran")
	w.Connect(wash, teh)
	ctx := context.Background()
	var out bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: io.Discard, getenv: func(k string) string {
		if k == "BRIEF_PASSPHRASE" {
			return testrelay.Passphrase
		}
		return ""
	}}
	var heapPeak, rssPeak float64
	for b.Loop() {
		b.StopTimer()
		line := []byte("A registry keeps every letter as it came.\n")
		body := bytes.Repeat(line, (1<<30)/len(line)+1)[:1<<30]
		sent, _, err := wash.Send(ctx, client.Outgoing{To: "tehran", Subject: "1 GiB", Body: body})
		if err != nil {
			b.Fatal(err)
		}
		body = nil
		runtime.GC()
		debug.FreeOSMemory()
		stop := watchPeak()
		b.StartTimer()
		if err := cmdRead(ctx, e, []string{"--dir", teh.Dir(), sent.ID}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		heap, rss := stop()
		if out.Len() > 16<<10 || !strings.Contains(out.String(), "the whole body is in ") {
			b.Fatalf("brief read printed %d bytes:\n%.300s", out.Len(), out.String())
		}
		out.Reset()
		heapPeak, rssPeak = max(heapPeak, heap), max(rssPeak, rss)
		os.RemoveAll(teh.LetterDir(sent.ID))
		b.StartTimer()
	}
	b.SetBytes(1 << 30)
	b.ReportMetric(heapPeak/(1<<20), "peak-heap-MiB")
	if rssPeak >= 0 {
		b.ReportMetric(rssPeak/(1<<20), "peak-rss-MiB")
	}
}

// watchPeak samples the live heap every 2 ms and resets the kernel's peak
// resident set (VmHWM); stop returns how far each grew over its value at
// the start. The resident set's growth is -1 where it cannot be measured.
func watchPeak() (stop func() (heap, rss float64)) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() float64 { metrics.Read(sample); return float64(sample[0].Value.Uint64()) }
	base, peak := read(), 0.0
	rssBase := procStatus("VmRSS")
	canRSS := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil && rssBase >= 0
	done, wg := make(chan struct{}), sync.WaitGroup{}
	wg.Go(func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, read()-base)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() (float64, float64) {
		close(done)
		wg.Wait()
		if !canRSS {
			return peak, -1
		}
		return peak, procStatus("VmHWM") - rssBase
	}
}

// procStatus returns a field of /proc/self/status in bytes, or -1.
func procStatus(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				return -1
			}
			return kb * 1024
		}
	}
	return -1
}
