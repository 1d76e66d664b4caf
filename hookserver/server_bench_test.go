package hookserver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/hookserver/logbuf"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
)

// BenchmarkServerLoopback measures whole calls over keep-alive loopback
// connections, net/http included, with per-call JSON logs batched by logbuf
// as in cmd/hookserver. Client and server share the process: compare it with
// the same benchmark of a trivial handler, not with absolute numbers.
func BenchmarkServerLoopback(b *testing.B) {
	for _, handler := range []string{"trivial", "hook", "hook_without_logs"} {
		b.Run(handler, func(b *testing.B) {
			var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(bytes.Repeat([]byte("x"), 150))
			})
			if handler != "trivial" {
				hook := newTestHandler(b, HandlerConfig{Tokens: []protocol.Token{protocol.IDToken, protocol.AccessToken}}, benchList(b, 100_000))
				if handler == "hook" {
					out := logbuf.New(io.Discard, 100*time.Millisecond)
					defer func() { _ = out.Close() }()
					hook.log = slog.New(slog.NewJSONHandler(out, nil))
				}
				h = hook
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
				WriteTimeout: writeTimeout, IdleTimeout: idleTimeout}
			go func() { _ = srv.Serve(ln) }()
			defer func() { _ = srv.Close() }()

			body := specEvent(b, nil)
			req := []byte(fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n%s",
				DefaultPath, testSecret, len(body), body))
			const conns = 16
			var wg sync.WaitGroup
			work := make(chan struct{}, 1024)
			b.ReportAllocs()
			b.ResetTimer()
			for range conns {
				wg.Go(func() {
					c, err := net.Dial("tcp", ln.Addr().String())
					if err != nil {
						b.Error(err)
						return
					}
					defer func() { _ = c.Close() }()
					br := bufio.NewReader(c)
					for range work {
						if _, err := c.Write(req); err != nil {
							b.Error(err)
							return
						}
						res, err := http.ReadResponse(br, nil)
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, res.Body)
						_ = res.Body.Close()
						if res.StatusCode != http.StatusOK {
							b.Errorf("status %d", res.StatusCode)
							return
						}
					}
				})
			}
			for b.Loop() {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
		})
	}
}
