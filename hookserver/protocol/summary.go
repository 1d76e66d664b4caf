package protocol

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/tokenhook/tokenhook/hookserver/internal/jsonscan"
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

// ReadSummary reads the fields of Summary from an event and validates the whole
// document as JSON. It follows encoding/json's rules for Event: object keys match
// field names case-insensitively, the last duplicate wins, null leaves a string
// unchanged and clears a pointer or map.
func ReadSummary(data []byte) (Summary, error) {
	var r summaryReader
	r.s.Reset(data)
	if err := r.top(); err != nil {
		return Summary{}, fmt.Errorf("read token hook event: %w", err)
	}
	return r.sum, nil
}

type summaryReader struct {
	s   jsonscan.Scanner
	sum Summary
}

func (r *summaryReader) top() error {
	if null, err := r.s.Null(); err != nil || null {
		if err != nil {
			return err
		}
		return r.s.Finish()
	}
	if r.s.Peek() != '{' {
		if err := r.s.SkipValue(); err != nil {
			return err
		}
		return ErrNotObject
	}
	err := r.object(func(key []byte, plain bool) error {
		switch {
		case fieldIs(key, plain, "eventType"):
			return r.stringField(&r.sum.EventType)
		case fieldIs(key, plain, "eventId"):
			return r.stringField(&r.sum.EventID)
		case fieldIs(key, plain, "data"):
			return r.data()
		}
		return r.s.SkipValue()
	})
	if err != nil {
		return err
	}
	return r.s.Finish()
}

// object reads an object, calling member for each key with the scanner at its value.
func (r *summaryReader) object(member func(key []byte, plain bool) error) error {
	if err := r.s.ObjectStart(); err != nil {
		return err
	}
	for {
		key, plain, ok, err := r.s.NextKey()
		if err != nil || !ok {
			return err
		}
		if err := member(key, plain); err != nil {
			return err
		}
	}
}

// structField reads an object decoded into a non-pointer struct: null is a no-op.
func (r *summaryReader) structField(member func(key []byte, plain bool) error) error {
	if null, err := r.s.Null(); err != nil || null {
		return err
	}
	return r.object(member)
}

// pointerField reads an object decoded into a struct pointer: null calls clear.
func (r *summaryReader) pointerField(clear func(), member func(key []byte, plain bool) error) error {
	if null, err := r.s.Null(); err != nil || null {
		if null {
			clear()
		}
		return err
	}
	return r.object(member)
}

// stringField reads a string into dst; null leaves dst unchanged.
func (r *summaryReader) stringField(dst *[]byte) error {
	if null, err := r.s.Null(); err != nil || null {
		return err
	}
	raw, plain, err := r.s.String()
	if err != nil {
		return err
	}
	*dst = value(raw, plain)
	return nil
}

func (r *summaryReader) data() error {
	return r.structField(func(key []byte, plain bool) error {
		switch {
		case fieldIs(key, plain, "context"):
			return r.context()
		case fieldIs(key, plain, "identity"):
			return r.token(&r.sum.HasIDToken, claim{claimPreferredUsername, &r.sum.PreferredUsername})
		case fieldIs(key, plain, "access"):
			return r.token(&r.sum.HasAccessToken, claim{claimSubject, &r.sum.AccessSubject},
				claim{claimUserID, &r.sum.AccessUserID})
		}
		return r.s.SkipValue()
	})
}

func (r *summaryReader) context() error {
	return r.structField(func(key []byte, plain bool) error {
		switch {
		case fieldIs(key, plain, "session"):
			return r.present(&r.sum.HasSession, func() {}, func([]byte, bool) error { return r.s.SkipValue() })
		case fieldIs(key, plain, "user"):
			return r.present(&r.sum.HasUser, func() { r.sum.ProfileLogin = nil }, func(key []byte, plain bool) error {
				if !fieldIs(key, plain, "profile") {
					return r.s.SkipValue()
				}
				return r.structField(func(key []byte, plain bool) error {
					if !fieldIs(key, plain, "login") {
						return r.s.SkipValue()
					}
					return r.stringField(&r.sum.ProfileLogin)
				})
			})
		case fieldIs(key, plain, "protocol"):
			return r.pointerField(func() { r.sum.GrantType = nil }, func(key []byte, plain bool) error {
				if !fieldIs(key, plain, "request") {
					return r.s.SkipValue()
				}
				return r.pointerField(func() { r.sum.GrantType = nil }, func(key []byte, plain bool) error {
					if !fieldIs(key, plain, "grant_type") {
						return r.s.SkipValue()
					}
					return r.stringField(&r.sum.GrantType)
				})
			})
		}
		return r.s.SkipValue()
	})
}

// present reads an object decoded into a struct pointer, recording whether the
// pointer is set: null clears it (and calls clear), an object sets it.
func (r *summaryReader) present(set *bool, clear func(), member func(key []byte, plain bool) error) error {
	if null, err := r.s.Null(); err != nil || null {
		if null {
			*set = false
			clear()
		}
		return err
	}
	*set = true
	return r.object(member)
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
	return r.present(present, clearClaims, func(key []byte, plain bool) error {
		if !fieldIs(key, plain, "claims") {
			return r.s.SkipValue()
		}
		// A map: null clears it, keys match exactly, values may be of any type.
		return r.pointerField(clearClaims, func(key []byte, plain bool) error {
			for _, c := range claims {
				if !keyIs(key, plain, c.name) {
					continue
				}
				if r.s.Peek() != '"' {
					*c.dst = nil // not a string: the lookup skips it
					return r.s.SkipValue()
				}
				return r.stringField(c.dst)
			}
			return r.s.SkipValue()
		})
	})
}

// value returns a string's value, decoding escapes only when there are any.
func value(raw []byte, plain bool) []byte {
	if plain {
		return raw
	}
	return jsonscan.AppendUnquote(nil, raw)
}

// fieldIs matches an object key against a struct field name as encoding/json
// does: exactly or case-insensitively (Unicode simple folding).
func fieldIs(raw []byte, plain bool, name string) bool {
	if plain {
		if len(raw) != len(name) {
			return false
		}
		for i := 0; i < len(raw); i++ {
			a, b := raw[i], name[i]
			if a != b && lowerASCII(a) != lowerASCII(b) {
				return false
			}
		}
		return true
	}
	return bytes.EqualFold(jsonscan.AppendUnquote(nil, raw), []byte(name))
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// keyIs matches a map key: exactly, after decoding escapes.
func keyIs(raw []byte, plain bool, name string) bool {
	if plain {
		return string(raw) == name
	}
	return string(jsonscan.AppendUnquote(nil, raw)) == name
}
