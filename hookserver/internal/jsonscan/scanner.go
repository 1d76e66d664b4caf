// Package jsonscan is a small pull scanner over a JSON document held in memory.
//
// It exists for the hook's hot path: reading the few fields a token hook needs
// from a 3 KB event without building maps, and parsing large patient lists with
// the offset of every element (for error lines). It validates the whole document
// with the same rules as encoding/json (including its nesting limit), so that a
// document it accepts is one json.Unmarshal would accept.
package jsonscan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is encoding/json's nesting limit, kept identical so both agree on validity.
const MaxDepth = 10000

// SyntaxError reports malformed JSON at a byte offset.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.Offset, e.Msg)
}

// TypeError reports a value of the wrong kind, such as an array where an object belongs.
type TypeError struct {
	Offset    int
	Got, Want string
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("JSON value at offset %d is %s, want %s", e.Offset, e.Got, e.Want)
}

// Scanner reads one JSON document. The zero value is unusable; call Reset.
type Scanner struct {
	data  []byte
	pos   int
	depth int
	// first is true right after '{' or '[' until the first member or element.
	first bool
	// kinds records, for SkipValue, whether each container it opened is an
	// array: bit n for the container at depth skipBase+n; deep ones spill over
	// into more.
	kinds    uint64
	more     []uint64
	skipBase int
}

// Reset prepares s to read data from the start.
func (s *Scanner) Reset(data []byte) {
	s.data, s.pos, s.depth, s.first = data, 0, 0, false
}

// Offset is the position of the next unread byte.
func (s *Scanner) Offset() int { return s.pos }

func (s *Scanner) syntaxError(msg string) error {
	return &SyntaxError{Offset: s.pos, Msg: msg}
}

func (s *Scanner) unexpected(what string) error {
	if s.pos >= len(s.data) {
		return s.syntaxError("unexpected end of input, expected " + what)
	}
	return s.syntaxError(fmt.Sprintf("unexpected character %q, expected %s", s.data[s.pos], what))
}

// Peek skips whitespace and returns the next byte, or 0 at the end of input.
func (s *Scanner) Peek() byte {
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		if c > ' ' {
			return c
		}
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c
		}
		s.pos++
		// Indented JSON has long runs of spaces.
		for s.pos+8 <= len(s.data) && binary.LittleEndian.Uint64(s.data[s.pos:]) == ones*' ' {
			s.pos += 8
		}
	}
	return 0
}

// Kind names the JSON type of the next value, for error messages.
func (s *Scanner) Kind() string {
	switch s.Peek() {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "number"
	}
	return "invalid value"
}

// TypeError reports that the next value is not of the wanted kind.
func (s *Scanner) TypeError(want string) error {
	return &TypeError{Offset: s.pos, Got: s.Kind(), Want: want}
}

// Null consumes a null literal if it is next.
func (s *Scanner) Null() (bool, error) {
	if s.Peek() != 'n' {
		return false, nil
	}
	return true, s.literal("null")
}

func (s *Scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		// Find the first differing byte for a precise offset.
		for i := 0; i < len(lit); i++ {
			if s.pos >= len(s.data) || s.data[s.pos] != lit[i] {
				return s.unexpected("literal " + lit)
			}
			s.pos++
		}
	}
	s.pos += len(lit)
	return nil
}

func (s *Scanner) push() error {
	if s.depth >= MaxDepth {
		return s.syntaxError("exceeded max depth")
	}
	s.depth++
	s.first = true
	return nil
}

// ObjectStart consumes '{'. Members are then read with NextKey until it reports false.
func (s *Scanner) ObjectStart() error {
	if s.Peek() != '{' {
		return s.TypeError("object")
	}
	s.pos++
	return s.push()
}

// NextKey reads the next member's key and the ':' after it, leaving the value to read.
// It returns ok=false once the closing '}' is consumed. The key is raw (between the
// quotes); plain reports that it has no escapes and only ASCII, so it equals its value.
func (s *Scanner) NextKey() (key []byte, plain, ok bool, err error) {
	c := s.Peek()
	if c == '}' {
		s.pos++
		s.depth--
		s.first = false
		return nil, false, false, nil
	}
	if !s.first {
		if c != ',' {
			return nil, false, false, s.unexpected("',' or '}'")
		}
		s.pos++
		c = s.Peek()
	}
	s.first = false
	if c != '"' {
		return nil, false, false, s.unexpected("string key")
	}
	key, plain, err = s.String()
	if err != nil {
		return nil, false, false, err
	}
	if s.Peek() != ':' {
		return nil, false, false, s.unexpected("':'")
	}
	s.pos++
	return key, plain, true, nil
}

// ArrayStart consumes '['. Elements are then read after each NextElement that reports true.
func (s *Scanner) ArrayStart() error {
	if s.Peek() != '[' {
		return s.TypeError("array")
	}
	s.pos++
	return s.push()
}

// NextElement positions s at the next element, or consumes ']' and returns false.
func (s *Scanner) NextElement() (bool, error) {
	c := s.Peek()
	if c == ']' {
		s.pos++
		s.depth--
		s.first = false
		return false, nil
	}
	if !s.first {
		if c != ',' {
			return false, s.unexpected("',' or ']'")
		}
		s.pos++
		if s.Peek() == ']' {
			return false, s.unexpected("value")
		}
	}
	s.first = false
	return true, nil
}

// String reads a string value and returns its raw content (between the quotes).
// plain reports no escapes and no byte >= 0x80, in which case raw is the value.
func (s *Scanner) String() (raw []byte, plain bool, err error) {
	if s.Peek() != '"' {
		return nil, false, s.TypeError("string")
	}
	s.pos++
	start := s.pos
	plain = true
	data := s.data
	for i := s.pos; i < len(data); i++ {
		i += plainRun(data[i:])
		if i >= len(data) {
			break
		}
		c := data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return data[start:i], plain, nil
		case c == '\\':
			plain = false
			n, err := escapeLen(data[i:])
			if err != nil {
				s.pos = i
				return nil, false, s.syntaxError(err.Error())
			}
			i += n - 1
		case c < 0x20:
			s.pos = i
			return nil, false, s.syntaxError("control character in string")
		default: // c >= 0x80
			plain = false
		}
	}
	s.pos = len(data)
	return nil, false, s.syntaxError("unexpected end of input in string")
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// specialBytes flags (with its high bit) each byte of w, read little-endian,
// that ends a plain run: '"', '\\', below 0x20, or at least 0x80. Borrows may
// flag bytes above a flagged one, never below, so the lowest flag is exact.
func specialBytes(w uint64) uint64 {
	quote := w ^ (ones * '"')
	backslash := w ^ (ones * '\\')
	return (((quote - ones) & ^quote) | ((backslash - ones) & ^backslash) | ((w - ones*0x20) & ^w) | w) & highs
}

// plainRun returns how many leading bytes of b need no attention inside a
// string: printable ASCII other than '"' and '\\'. It tests eight bytes at a
// time: strings are most of an event's bytes.
func plainRun(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if special := specialBytes(binary.LittleEndian.Uint64(b[i:])); special != 0 {
			return i + bits.TrailingZeros64(special)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return i
		}
	}
	return i
}

// escapeLen validates the escape sequence at b[0] == '\\' and returns its length.
func escapeLen(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, errors.New("unexpected end of input in string escape")
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
		if len(b) < 6 {
			return 0, errors.New("unexpected end of input in \\u escape")
		}
		for _, h := range b[2:6] {
			if hexVal(h) < 0 {
				return 0, errors.New("invalid character in \\u escape")
			}
		}
		return 6, nil
	}
	return 0, errors.New("invalid escape character")
}

func hexVal(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// Number reads a number and returns its literal text.
func (s *Scanner) Number() ([]byte, error) {
	c := s.Peek()
	if c != '-' && (c < '0' || c > '9') {
		return nil, s.TypeError("number")
	}
	start := s.pos
	if err := s.skipNumber(); err != nil {
		return nil, err
	}
	return s.data[start:s.pos], nil
}

func (s *Scanner) skipNumber() error {
	d := s.data
	i := s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	default:
		s.pos = i
		return s.unexpected("digit")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			s.pos = i
			return s.unexpected("digit after decimal point")
		}
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			s.pos = i
			return s.unexpected("digit in exponent")
		}
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	}
	s.pos = i
	return nil
}

// SkipValue validates and skips the next value, however deeply nested.
func (s *Scanner) SkipValue() error {
	base := s.depth
	s.skipBase = base
	for {
		// A value is expected here.
		switch c := s.Peek(); c {
		case '{':
			s.pos++
			if err := s.pushSkip(false); err != nil {
				return err
			}
			if s.Peek() == '}' {
				s.pos++
				s.popSkip()
				break
			}
			if err := s.skipKey(); err != nil {
				return err
			}
			continue
		case '[':
			s.pos++
			if err := s.pushSkip(true); err != nil {
				return err
			}
			if s.Peek() == ']' {
				s.pos++
				s.popSkip()
				break
			}
			continue
		case '"':
			if _, _, err := s.String(); err != nil {
				return err
			}
		case 't':
			if err := s.literal("true"); err != nil {
				return err
			}
		case 'f':
			if err := s.literal("false"); err != nil {
				return err
			}
		case 'n':
			if err := s.literal("null"); err != nil {
				return err
			}
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			if err := s.skipNumber(); err != nil {
				return err
			}
		default:
			return s.unexpected("value")
		}
		// A value ended: close containers until one continues with ','.
		for {
			if s.depth == base {
				return nil
			}
			array := s.topIsArray()
			c := s.Peek()
			if c == ',' {
				s.pos++
				if !array {
					if err := s.skipKey(); err != nil {
						return err
					}
				}
				break
			}
			if array && c == ']' || !array && c == '}' {
				s.pos++
				s.popSkip()
				continue
			}
			if array {
				return s.unexpected("',' or ']'")
			}
			return s.unexpected("',' or '}'")
		}
	}
}

func (s *Scanner) skipKey() error {
	if s.Peek() != '"' {
		return s.unexpected("string key")
	}
	if _, _, err := s.String(); err != nil {
		return err
	}
	if s.Peek() != ':' {
		return s.unexpected("':'")
	}
	s.pos++
	return nil
}

func (s *Scanner) pushSkip(array bool) error {
	if s.depth >= MaxDepth {
		return s.syntaxError("exceeded max depth")
	}
	n := s.depth - s.skipBase
	word, bit := &s.kinds, uint(n%64)
	if n >= 64 {
		for len(s.more) <= n/64-1 {
			s.more = append(s.more, 0)
		}
		word = &s.more[n/64-1]
	}
	if array {
		*word |= 1 << bit
	} else {
		*word &^= 1 << bit
	}
	s.depth++
	return nil
}

func (s *Scanner) topIsArray() bool {
	n := s.depth - s.skipBase - 1
	word := s.kinds
	if n >= 64 {
		word = s.more[n/64-1]
	}
	return word&(1<<uint(n%64)) != 0
}

func (s *Scanner) popSkip() { s.depth-- }

// Finish checks that only whitespace follows the document.
func (s *Scanner) Finish() error {
	if s.Peek(); s.pos < len(s.data) {
		return s.syntaxError("invalid character after top-level value")
	}
	return nil
}

// AppendUnquote appends the value of a raw string (as returned by String) to dst,
// decoding escapes and replacing invalid UTF-8 and unpaired surrogates with U+FFFD,
// exactly as encoding/json does.
func AppendUnquote(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			e := raw[i+1]
			switch e {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(raw[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						if dec := utf16.DecodeRune(r, hex4(raw[i+2:])); dec != utf8.RuneError {
							dst = utf8.AppendRune(dst, dec)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, raw[i:i+size]...)
			}
			i += size
		}
	}
	return dst
}

func hex4(b []byte) rune {
	return hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3])
}
