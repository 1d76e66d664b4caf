package patients

import "unicode/utf8"

// maxStackKey is the longest key built without allocating; Okta logins are at most 100 characters.
const maxStackKey = 256

// appendKey appends the key that login is matched by. Okta's logins are
// case-insensitive, but Okta publishes no rule beyond ASCII, and Unicode case
// folding is wider than any login rule should be, so only ASCII is folded:
//
//   - a login of ASCII bytes only is upper-cased, so Sam@Example.com finds
//     sam@example.com;
//   - a login with any other byte is its own key, byte for byte, so no
//     lookalike (ſ U+017F, the Kelvin sign U+212A, fullwidth letters, another
//     normalisation form) can reach another login's patient ID.
//
// The two kinds of key never collide: only the second holds bytes >= 0x80.
// Matching too little costs a patient a claim; matching too much hands out
// another patient's ID.
func appendKey[S ~string | ~[]byte](dst []byte, login S) []byte {
	for i := 0; i < len(login); i++ {
		if login[i] >= utf8.RuneSelf {
			return append(dst, login...)
		}
	}
	for i := 0; i < len(login); i++ {
		c := login[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		dst = append(dst, c)
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
