package hookserver

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/tokenhook/tokenhook/hookserver/patients"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
)

// benchList is a list of n patients that includes the SPEC example's user.
func benchList(b *testing.B, n int) *patients.List {
	var sb strings.Builder
	sb.WriteString("login,patientID\n" + specLogin + ",1235\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&sb, "patient.%08d@example.org,P%09d\n", i, i)
	}
	return mustParse(b, sb.String())
}

// BenchmarkHandler measures ServeHTTP alone, without the network: the cost the
// hook adds to net/http's own per-request work.
func BenchmarkHandler(b *testing.B) {
	cases := []struct {
		name     string
		patients int
		login    string
		logs     bool
	}{
		{"patient/1k", 1_000, specLogin, false},
		{"patient/100k", 100_000, specLogin, false},
		{"not_patient/100k", 100_000, "visitor@example.com", false},
		{"patient/100k/json_logs", 100_000, specLogin, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h := newTestHandler(b, HandlerConfig{Tokens: []protocol.Token{protocol.IDToken, protocol.AccessToken}}, benchList(b, c.patients))
			if c.logs {
				h.log = slog.New(slog.NewJSONHandler(io.Discard, nil))
			}
			body := specEvent(b, withLogin(c.login))
			req := hookRequest(body)
			w := &discardWriter{h: http.Header{}}
			rd := bytes.NewReader(body)
			req.Body = io.NopCloser(rd)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(body)
				h.ServeHTTP(w, req)
			}
			if w.status != http.StatusOK && w.status != http.StatusNoContent {
				b.Fatalf("status %d", w.status)
			}
		})
	}
}
