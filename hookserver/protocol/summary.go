package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/tokenhook/tokenhook/hookserver/internal/jsoncompat"
)

// Summary is what a hook needs from an event, read by ReadSummary in one pass
// without building the whole Event. Its byte slices alias the input when they
// can: they are valid only while the input is.
//
// For any input that DecodeEvent accepts, ReadSummary succeeds and agrees with
// the decoded Event (FuzzDecodeEvent checks this).
type Summary struct {
	EventType []byte
	EventID   []byte
	GrantType []byte
	// The three login sources, in lookup order; see Login.
	ProfileLogin      []byte
	PreferredUsername []byte
	AccessSubject     []byte
	// AccessUserID is data.access.claims.uid, set for tokens minted for a user.
	AccessUserID   []byte
	HasUser        bool // data.context.user
	HasSession     bool // data.context.session
	HasIDToken     bool
	HasAccessToken bool
}

// Login returns the user's login in the order of Event.Login, or nil.
func (s *Summary) Login() []byte {
	switch {
	case len(s.ProfileLogin) > 0:
		return s.ProfileLogin
	case len(s.PreferredUsername) > 0:
		return s.PreferredUsername
	}
	return s.AccessSubject
}

// HasEndUser mirrors Event.HasEndUser.
func (s *Summary) HasEndUser() bool {
	if string(s.GrantType) == GrantClientCredentials || len(s.Login()) == 0 {
		return false
	}
	return s.HasUser || s.HasSession || s.HasIDToken || len(s.AccessUserID) > 0
}

// Has reports whether Okta is minting token t.
func (s *Summary) Has(t Token) bool {
	switch t {
	case IDToken:
		return s.HasIDToken
	case AccessToken:
		return s.HasAccessToken
	}
	return false
}

// ErrNotObject is returned for a JSON document that is not an object.
var ErrNotObject = errors.New("event is not a JSON object")

// TypeError reports a value of the wrong kind, such as an array where an object belongs.
type TypeError struct {
	Offset    int64
	Got, Want string
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("JSON value at offset %d is %s, want %s", e.Offset, e.Got, e.Want)
}

// ReadSummary reads the fields of Summary from an event and validates the whole
// document as JSON. It follows encoding/json's rules for Event: object keys match
// field names case-insensitively, the last duplicate wins, null leaves a string
// unchanged and clears a pointer or map. A syntax error anywhere in the document
// is reported before a value of the wrong kind, as encoding/json does; syntax
// errors are *jsoncompat.SyntaxError, kind errors *TypeError.
func ReadSummary(data []byte) (Summary, error) {
	r := summaryReaders.Get().(*summaryReader)
	r.d.Reset(data)
	r.sum = Summary{}
	err := r.top()
	if err != nil {
		err = fmt.Errorf("read token hook event: %w", r.d.SyntaxError(err))
	}
	sum := r.sum
	r.sum = Summary{}
	r.d.Release()
	summaryReaders.Put(r)
	if err != nil {
		return Summary{}, err
	}
	return sum, nil
}

// summaryReaders keeps decoders between calls: a jsontext.Decoder is some
// hundred bytes of state and stacks, reused by Reset without allocating.
var summaryReaders = sync.Pool{New: func() any { return new(summaryReader) }}

// summaryReader walks an event with the decoder: ReadToken to enter the
// objects that hold a summary field, ReadValue for names and string values
// (raw, aliasing the input), and ReadValue to skip everything else, which
// validates it in one tight loop without per-token bookkeeping.
type summaryReader struct {
	d   jsoncompat.Decoder
	sum Summary
}

// member is called for each member of an object with the member's quoted
// name; it must read exactly the member's value.
type member func(name jsontext.Value) error

func (r *summaryReader) top() error {
	switch r.d.PeekKind() {
	case jsontext.KindBeginObject:
	case jsontext.KindNull:
		if _, err := r.d.ReadToken(); err != nil {
			return err
		}
		return r.d.Finish()
	default:
		if err := r.skip(); err != nil {
			return err
		}
		if err := r.d.Finish(); err != nil {
			return err
		}
		return ErrNotObject
	}
	err := r.object(func(name jsontext.Value) error {
		switch {
		case fieldIs(name, "eventType"):
			return r.stringField(&r.sum.EventType)
		case fieldIs(name, "eventId"):
			return r.stringField(&r.sum.EventID)
		case fieldIs(name, "data"):
			return r.data()
		}
		return r.skip()
	})
	if err != nil {
		return err
	}
	return r.d.Finish()
}

// skip reads and discards the next value, validating it.
func (r *summaryReader) skip() error {
	_, err := r.d.ReadValue()
	return err
}

// object reads an object, calling m for each member with the decoder at its
// value. The next token must be '{'.
func (r *summaryReader) object(m member) error {
	if _, err := r.d.ReadToken(); err != nil {
		return err
	}
	for {
		name, ok, err := r.d.ReadName()
		if err != nil || !ok {
			return err
		}
		if err := m(name); err != nil {
			return err
		}
	}
}

// typeError returns a *TypeError for v, just read, which is not of the
// wanted kind, unless the rest of the document has a syntax error, which
// encoding/json reports first.
func (r *summaryReader) typeError(v jsontext.Value, want string) error {
	te := &TypeError{Offset: r.d.InputOffset() - int64(len(v)), Got: jsoncompat.KindName(v.Kind()), Want: want}
	for r.d.StackDepth() > 0 {
		var err error
		if k := r.d.PeekKind(); k == jsontext.KindEndObject || k == jsontext.KindEndArray {
			_, err = r.d.ReadToken()
		} else {
			_, err = r.d.ReadValue() // names and values alike
		}
		if err != nil {
			return err
		}
	}
	if err := r.d.Finish(); err != nil {
		return err
	}
	return te
}

// objectField reads an object for m, or null, on which it calls null. Any
// other value is a *TypeError.
func (r *summaryReader) objectField(null func(), m member) error {
	switch r.d.PeekKind() {
	case jsontext.KindBeginObject:
		return r.object(m)
	case jsontext.KindNull:
		_, err := r.d.ReadToken()
		if err == nil && null != nil {
			null()
		}
		return err
	}
	v, err := r.d.ReadValue()
	if err != nil {
		return err
	}
	return r.typeError(v, "object")
}

// structField reads an object decoded into a non-pointer struct: null is a no-op.
func (r *summaryReader) structField(m member) error {
	return r.objectField(nil, m)
}

// pointerField reads an object decoded into a struct pointer or a map: null calls clear.
func (r *summaryReader) pointerField(clear func(), m member) error {
	return r.objectField(clear, m)
}

// present reads an object decoded into a struct pointer, recording whether the
// pointer is set: null clears it (and calls clear), an object sets it.
func (r *summaryReader) present(set *bool, clear func(), m member) error {
	if r.d.PeekKind() == jsontext.KindBeginObject {
		*set = true
	}
	return r.objectField(func() { *set = false; clear() }, m)
}

// stringField reads a string into dst; null leaves dst unchanged.
func (r *summaryReader) stringField(dst *[]byte) error {
	v, err := r.d.ReadValue()
	switch {
	case err != nil:
		return err
	case v.Kind() == jsontext.KindString:
		*dst = jsoncompat.String(v)
	case v.Kind() != jsontext.KindNull:
		return r.typeError(v, "string")
	}
	return nil
}

func (r *summaryReader) data() error {
	return r.structField(func(name jsontext.Value) error {
		switch {
		case fieldIs(name, "context"):
			return r.context()
		case fieldIs(name, "identity"):
			return r.token(&r.sum.HasIDToken, claim{claimPreferredUsername, &r.sum.PreferredUsername})
		case fieldIs(name, "access"):
			return r.token(&r.sum.HasAccessToken, claim{claimSubject, &r.sum.AccessSubject},
				claim{claimUserID, &r.sum.AccessUserID})
		}
		return r.skip()
	})
}

func (r *summaryReader) context() error {
	return r.structField(func(name jsontext.Value) error {
		switch {
		case fieldIs(name, "session"):
			return r.present(&r.sum.HasSession, func() {}, func(jsontext.Value) error { return r.skip() })
		case fieldIs(name, "user"):
			return r.present(&r.sum.HasUser, func() { r.sum.ProfileLogin = nil }, func(name jsontext.Value) error {
				if !fieldIs(name, "profile") {
					return r.skip()
				}
				return r.structField(func(name jsontext.Value) error {
					if !fieldIs(name, "login") {
						return r.skip()
					}
					return r.stringField(&r.sum.ProfileLogin)
				})
			})
		case fieldIs(name, "protocol"):
			return r.pointerField(func() { r.sum.GrantType = nil }, func(name jsontext.Value) error {
				if !fieldIs(name, "request") {
					return r.skip()
				}
				return r.pointerField(func() { r.sum.GrantType = nil }, func(name jsontext.Value) error {
					if !fieldIs(name, "grant_type") {
						return r.skip()
					}
					return r.stringField(&r.sum.GrantType)
				})
			})
		}
		return r.skip()
	})
}

// claim is a claim whose string value ReadSummary keeps.
type claim struct {
	name string
	dst  *[]byte
}

// token reads data.identity or data.access, keeping the string values of claims.
func (r *summaryReader) token(present *bool, claims ...claim) error {
	clearClaims := func() {
		for _, c := range claims {
			*c.dst = nil
		}
	}
	return r.present(present, clearClaims, func(name jsontext.Value) error {
		if !fieldIs(name, "claims") {
			return r.skip()
		}
		// A map: null clears it, keys match exactly, values may be of any type.
		return r.pointerField(clearClaims, func(name jsontext.Value) error {
			for _, c := range claims {
				if !keyIs(name, c.name) {
					continue
				}
				v, err := r.d.ReadValue()
				if err != nil {
					return err
				}
				*c.dst = nil // not a string: the lookup skips it
				if v.Kind() == jsontext.KindString {
					*c.dst = jsoncompat.String(v)
				}
				return nil
			}
			return r.skip()
		})
	})
}

// fieldIs matches a quoted object name against a struct field name as
// encoding/json does: exactly or case-insensitively (Unicode simple folding).
//
// name is ASCII letters and '_'. A name's value is never longer than its
// quoted content, and folds to name only if it is at least as long, with equal
// lengths only for ASCII: so content of name's length matches by ASCII folding
// alone, shorter content never matches, and only longer content, with escapes
// or non-ASCII, needs decoding.
func fieldIs(quoted jsontext.Value, name string) bool {
	raw := quoted[1 : len(quoted)-1]
	switch {
	case len(raw) < len(name):
		return false
	case len(raw) > len(name):
		return !jsoncompat.Plain(quoted) && bytes.EqualFold(jsoncompat.String(quoted), []byte(name))
	}
	for i := 0; i < len(raw); i++ {
		a, b := raw[i], name[i]
		if a != b && lowerASCII(a) != lowerASCII(b) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// keyIs matches a quoted map key against an ASCII name: exactly, after
// decoding escapes (which only longer content can have).
func keyIs(quoted jsontext.Value, name string) bool {
	raw := quoted[1 : len(quoted)-1]
	switch {
	case len(raw) == len(name):
		return string(raw) == name
	case len(raw) < len(name) || bytes.IndexByte(raw, '\\') < 0:
		return false
	}
	return string(jsoncompat.String(quoted)) == name
}
