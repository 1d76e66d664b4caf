package oktasim

import (
	"hash/fnv"
	"math/rand/v2"
	"sync"
)

// ID prefixes as Okta uses them. An ID is the prefix and 17 more characters.
const (
	prefixHook       = "cal"
	prefixAuthServer = "aus"
	prefixPolicy     = "00p"
	prefixRule       = "0pr"
	prefixHookKey    = "HKY"
	prefixErrorID    = "oae"
	idLength         = 20
)

const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// idSource makes random strings from a seeded stream, so a seed reproduces the same IDs for the
// same sequence of calls.
type idSource struct {
	mu  sync.Mutex
	rng *rand.Rand
}

func newIDSource(seed int64, stream string) *idSource {
	return &idSource{rng: rand.New(rand.NewPCG(uint64(seed), hashString(stream)))}
}

func (s *idSource) random(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := make([]byte, n)
	for i := range b {
		b[i] = idAlphabet[s.rng.IntN(len(idAlphabet))]
	}
	return string(b)
}

// id returns an Okta-shaped ID: prefix plus random characters, 20 in all.
func (s *idSource) id(prefix string) string {
	return prefix + s.random(idLength-len(prefix))
}

// uuid returns a random UUID (version 4 layout), the shape of a hook key's keyId.
func (s *idSource) uuid() string {
	const hex = "0123456789abcdef"
	s.mu.Lock()
	defer s.mu.Unlock()
	b := make([]byte, 0, 36)
	for i := 0; i < 32; i++ {
		switch i {
		case 8, 12, 16, 20:
			b = append(b, '-')
		}
		c := hex[s.rng.IntN(16)]
		switch i {
		case 12:
			c = '4' // version 4
		case 16:
			c = hex[8+s.rng.IntN(4)] // variant 10xx
		}
		b = append(b, c)
	}
	return string(b)
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}
