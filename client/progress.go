package client

import (
	"io"

	"brieftraeger/letter"
)

// progressReader reports how much of a stream has been read, at most once
// per MiB and once at the end.
type progressReader struct {
	r           io.Reader
	stage       string
	done, total int64
	last        int64
	report      func(stage string, done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.done-p.last >= 1<<20 || err == io.EOF && p.done != p.last {
		p.last = p.done
		p.report(p.stage, p.done, p.total)
	}
	return n, err
}

// withProgress wraps the attachments so that reading them reports progress
// over their total size.
func withProgress(atts []letter.Attachment, report func(string, int64, int64)) []letter.Attachment {
	if report == nil || len(atts) == 0 {
		return atts
	}
	var total int64
	for _, a := range atts {
		total += a.Size
	}
	shared := &progressReader{stage: "sealing", total: total, report: report}
	out := make([]letter.Attachment, len(atts))
	for i, a := range atts {
		out[i] = a
		out[i].Open = func() (io.ReadCloser, error) {
			rc, err := a.Open()
			if err != nil {
				return nil, err
			}
			return struct {
				io.Reader
				io.Closer
			}{&sharedProgress{p: shared, r: rc}, rc}, nil
		}
	}
	return out
}

// sharedProgress counts reads of one attachment into the progress of all.
type sharedProgress struct {
	p *progressReader
	r io.Reader
}

func (s *sharedProgress) Read(b []byte) (int, error) {
	s.p.r = s.r
	return s.p.Read(b)
}
