package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// trivialBody is a fixed 150-byte JSON answer, about the size of the hook's.
var trivialBody = []byte(`{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/claims/patientID","value":"P-000000042-trivial-server-answer-pad"}]}]}`)

// serveTrivial is the baseline: plain net/http, reading the body and writing a
// fixed answer, with the same server timeouts as the hook server.
func serveTrivial(addr, tlsFiles string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(trivialBody)
		}),
		ReadHeaderTimeout: 3 * time.Second,
		ReadTimeout:       5 * time.Second,
		WriteTimeout:      5 * time.Second,
		IdleTimeout:       90 * time.Second,
	}
	if cert, key, ok := strings.Cut(tlsFiles, ","); ok {
		return srv.ServeTLS(ln, cert, key)
	}
	return srv.Serve(ln)
}
