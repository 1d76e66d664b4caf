// Package auth checks the shared secret Okta sends in a header on every hook
// call. Secrets come from files, one secret per non-empty line, so a secret can
// be rotated with no failed call: while both the old and the new secret are in
// the files, both are accepted.
package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tokenhook/tokenhook/hookserver/internal/filewatch"
)

// Secrets holds the accepted secrets, as SHA-256 digests: comparing digests in
// constant time hides both the content and the length of the secrets.
type Secrets struct {
	digests  atomic.Pointer[[][sha256.Size]byte]
	reloader *filewatch.Reloader
}

// Load reads the secret files. It fails if a file cannot be read or holds no secret.
// report (optional) is told the outcome of each later reload.
func Load(files []string, report func(err error, took time.Duration)) (*Secrets, error) {
	if len(files) == 0 {
		return nil, errors.New("no secret file given")
	}
	s := &Secrets{}
	first := true
	s.reloader = filewatch.NewReloader(files, s.apply, func(err error, took time.Duration) {
		if !first && report != nil {
			report(err, took)
		}
	})
	err := s.reloader.Reload()
	first = false
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Run reloads the files whenever they change, until ctx is done. A file that
// fails to read or holds no secret leaves the previous secrets in force.
func (s *Secrets) Run(ctx context.Context, opts filewatch.Options) error {
	return s.reloader.Run(ctx, opts)
}

// Count is the number of distinct secrets accepted.
func (s *Secrets) Count() int { return len(*s.digests.Load()) }

func (s *Secrets) apply(contents [][]byte) error {
	var digests [][sha256.Size]byte
	for i, c := range contents {
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(c))
		sc.Buffer(nil, len(c)+1)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			digests = append(digests, sha256.Sum256(line))
			n++
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("secret file %d: %w", i+1, err)
		}
		if n == 0 {
			// Likely a file caught while being written; never an open door.
			return fmt.Errorf("secret file %d holds no secret", i+1)
		}
	}
	s.digests.Store(&digests)
	return nil
}

// Valid reports, in time independent of the secrets, whether value is one of them.
func (s *Secrets) Valid(value string) bool {
	if value == "" {
		return false
	}
	var buf [256]byte
	got := sha256.Sum256(append(buf[:0], value...))
	ok := 0
	for _, d := range *s.digests.Load() {
		ok |= subtle.ConstantTimeCompare(got[:], d[:])
	}
	return ok == 1
}
