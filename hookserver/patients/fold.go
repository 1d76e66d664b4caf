package patients

import (
	"unicode"
	"unicode/utf8"
)

// maxStackKey is the longest key folded without allocating; Okta logins are at most 100 characters.
const maxStackKey = 256

// appendFold appends the case-folded form of login to dst: each rune becomes the
// smallest rune of its Unicode simple-folding orbit, so two valid UTF-8 logins
// fold alike exactly when strings.EqualFold reports them equal. Invalid UTF-8
// bytes are kept as they are.
func appendFold[S ~string | ~[]byte](dst []byte, login S) []byte {
	for i := 0; i < len(login); {
		c := login[i]
		if c < utf8.RuneSelf {
			// ASCII letters fold to upper case, the smaller of the pair; 'k' and
			// 's' also fold with non-ASCII runes (K, ſ) whose orbit minimum is
			// the ASCII upper case too.
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := decodeRune(login[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, c)
			i++
			continue
		}
		dst = utf8.AppendRune(dst, foldRune(r))
		i += size
	}
	return dst
}

func decodeRune[S ~string | ~[]byte](s S) (rune, int) {
	// Converting a short prefix keeps this allocation-free for either type.
	var b [utf8.UTFMax]byte
	n := copy(b[:], s)
	return utf8.DecodeRune(b[:n])
}

func decodeLastRune[S ~string | ~[]byte](s S) (rune, int) {
	var b [utf8.UTFMax]byte
	n := copy(b[:], s[max(0, len(s)-utf8.UTFMax):])
	return utf8.DecodeLastRune(b[:n])
}

// foldRune returns the smallest rune that folds to r.
func foldRune(r rune) rune {
	min := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < min {
			min = f
		}
	}
	return min
}
