// Package jsoncompat reads a JSON document held in memory with the jsontext
// decoder of github.com/go-json-experiment/json, configured to accept exactly
// what encoding/json accepts (duplicate object names and invalid UTF-8 are
// allowed, as in encoding/json; the nesting limit is the same), and turns its
// errors into messages that quote at most one character of the input.
//
// Both of the hook server's JSON readers use it: the token hook event
// summary (protocol.ReadSummary, the hot path) and the patient list parser.
package jsoncompat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// options are jsontext's settings for encoding/json's rules: RFC 8259 JSON,
// with duplicate names and invalid UTF-8 allowed. Built once: boxing them into
// Options on every Reset would allocate.
var options = []jsontext.Options{
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
}

// Decoder is a jsontext.Decoder over one document in memory. Values it reads
// (ReadValue) alias the document: jsontext reads a bytes.Buffer in place, so
// they stay valid as long as the document does, not only until the next read.
// The zero value is ready for Reset; a Decoder can be reused (e.g. from a
// sync.Pool) without allocating.
type Decoder struct {
	jsontext.Decoder
	in   bytes.Buffer
	data []byte
}

// Reset prepares d to read data from the start.
func (d *Decoder) Reset(data []byte) {
	d.data = data
	d.in = *bytes.NewBuffer(data)
	d.Decoder.Reset(&d.in, options...)
}

// Release drops d's references to the document, so that a pooled Decoder does
// not keep it alive.
func (d *Decoder) Release() {
	d.data = nil
	d.in = bytes.Buffer{}
	d.Decoder.Reset(&d.in) // jsontext forgets a bytes.Buffer's memory on Reset
}

// ReadName reads the next token of an object: a member's name, returned
// quoted and aliasing the document, or the object's end, for which ok is
// false. It is ReadToken with the name's bytes: one call per member where
// PeekKind and ReadValue would be two. The bytes between the previous token
// and the name's opening quote are whitespace and a ',' (the decoder has
// validated them), and the decoder reads a bytes.Buffer in place, so its
// offsets index the document.
func (d *Decoder) ReadName() (name jsontext.Value, ok bool, err error) {
	start := int(d.InputOffset())
	if _, err := d.ReadToken(); err != nil {
		return nil, false, err
	}
	// The token ends with the name's closing quote, or is the object's '}'.
	end := int(d.InputOffset())
	if d.data[end-1] != '"' {
		return nil, false, nil
	}
	for d.data[start] != '"' {
		start++
	}
	return d.data[start:end], true, nil
}

// Finish checks that only whitespace follows the top-level value just read.
func (d *Decoder) Finish() error {
	off := int(d.InputOffset())
	rest := d.data[off:]
	for i, c := range rest {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return &SyntaxError{Offset: int64(off + i), Msg: "invalid character " + quoteChar(rest[i:]) + " after top-level value"}
		}
	}
	return nil
}

// SyntaxError reports malformed JSON at a byte offset.
type SyntaxError struct {
	Offset int64
	// Msg says what is wrong. It quotes at most one character of the input,
	// never a name on the path to the error (jsontext's own message gives
	// the JSON pointer, whose names could be a list's data).
	Msg string
	err error
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.Offset, e.Msg)
}

// Unwrap returns the decoder's error, if any.
func (e *SyntaxError) Unwrap() error { return e.err }

// SyntaxError turns an error of d's reads into a *SyntaxError: a
// *jsontext.SyntacticError, or io.EOF for a document with no value. Any other
// error (one of the caller's) is returned unchanged.
func (d *Decoder) SyntaxError(err error) error {
	var se *jsontext.SyntacticError
	switch {
	case errors.As(err, &se):
		return &SyntaxError{Offset: se.ByteOffset, Msg: describe(se.Err), err: err}
	case errors.Is(err, io.EOF):
		return &SyntaxError{Offset: int64(len(d.data)), Msg: "unexpected end of input", err: err}
	}
	return err
}

// describe words jsontext's error without the input text it may quote: an
// invalid escape sequence is quoted whole (up to six bytes); an invalid
// character is one character, which is kept.
func describe(err error) string {
	switch {
	case err == nil:
		return "syntax error"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "invalid escape sequence ") || strings.HasPrefix(msg, "invalid surrogate pair ") {
		return "invalid escape sequence in string"
	}
	return msg
}

// quoteChar quotes the first character of b as jsontext does: invalid UTF-8 as '\xff'.
func quoteChar(b []byte) string {
	r, n := utf8.DecodeRune(b)
	if r == utf8.RuneError && n == 1 {
		return `'\x` + strconv.FormatUint(uint64(b[0]), 16) + `'`
	}
	return strconv.QuoteRune(r)
}

// KindName names a JSON kind for messages, with encoding/json's words.
func KindName(k jsontext.Kind) string {
	switch k {
	case jsontext.KindBeginObject:
		return "object"
	case jsontext.KindBeginArray:
		return "array"
	case jsontext.KindString:
		return "string"
	case jsontext.KindTrue, jsontext.KindFalse:
		return "boolean"
	case jsontext.KindNull:
		return "null"
	case jsontext.KindNumber:
		return "number"
	}
	return "invalid value"
}

// Plain reports whether a string value, as ReadValue returns it (quoted),
// has no escapes and is all ASCII, so that its content is its value.
func Plain(quoted jsontext.Value) bool {
	for _, c := range quoted[1 : len(quoted)-1] {
		if c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// String returns the value of a string that ReadValue returned (quoted): its
// content when it needs no decoding (no allocation, aliasing the document),
// else a decoded copy with escapes resolved and invalid UTF-8 and unpaired
// surrogates replaced by U+FFFD, as encoding/json decodes it.
func String(quoted jsontext.Value) []byte {
	if content := quoted[1 : len(quoted)-1]; bytes.IndexByte(content, '\\') < 0 && utf8.Valid(content) {
		return content
	}
	// The decoder has validated the string; the only errors left report the
	// replacements, which are what encoding/json does too.
	v, _ := jsontext.AppendUnquote(nil, quoted)
	return v
}
