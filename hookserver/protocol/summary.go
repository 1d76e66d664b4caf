package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

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
	// ProfileLogin is data.context.user.profile.login, the first login
	// source; see Login.
	ProfileLogin   []byte
	HasUser        bool // data.context.user
	HasSession     bool // data.context.session
	HasIDToken     bool
	HasAccessToken bool

	// The claims Login and HasEndUser fall back on: the ID token's
	// preferred_username, the access token's sub, and its uid, which is set
	// for tokens minted for a user. ReadSummary reads them only when these
	// methods would look at them (see summaryReader.resolveClaims).
	preferredUsername, accessSubject, accessUserID []byte
}

// Login returns the user's login in the order of Event.Login, or nil.
func (s *Summary) Login() []byte {
	switch {
	case len(s.ProfileLogin) > 0:
		return s.ProfileLogin
	case len(s.preferredUsername) > 0:
		return s.preferredUsername
	}
	return s.accessSubject
}

// HasEndUser mirrors Event.HasEndUser.
func (s *Summary) HasEndUser() bool {
	if string(s.GrantType) == GrantClientCredentials || len(s.Login()) == 0 {
		return false
	}
	return s.HasUser || s.HasSession || s.HasIDToken || len(s.accessUserID) > 0
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
	err := r.top()
	if err == nil {
		err = r.resolveClaims()
	}
	if err != nil {
		err = fmt.Errorf("read token hook event: %w", r.d.SyntaxError(err))
	}
	sum := r.sum
	r.sum, r.idClaims, r.accessClaims = Summary{}, nil, nil
	r.d.Release()
	summaryReaders.Put(r)
	if err != nil {
		return Summary{}, err
	}
	return sum, nil
}

// summaryReaders keeps readers between calls: their two decoders (about
// 1 KB with their stacks) are reused by Reset without allocating, where a
// fresh reader costs 9 allocations per event.
var summaryReaders = sync.Pool{New: func() any { return new(summaryReader) }}

// summaryReader walks an event with the decoder: ReadToken to enter the
// objects that hold a summary field, ReadName for their members' names,
// ReadValue for string values (raw, aliasing the input) and to skip
// everything else. ReadValue validates a skipped object or array in one tight
// loop; SkipValue goes through it token by token, which made ReadSummary about
// 20% slower on Okta's example event.
type summaryReader struct {
	d   jsoncompat.Decoder
	sum Summary
	// The claims object of the ID token and of the access token, not read
	// yet (see token), and the decoder that reads them.
	idClaims, accessClaims jsontext.Value
	sub                    jsoncompat.Decoder
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
			var buf [1]claim
			return r.token(&r.sum.HasIDToken, &r.idClaims, r.idClaimList(&buf), r.sum.wantsIDClaims)
		case fieldIs(name, "access"):
			var buf [2]claim
			return r.token(&r.sum.HasAccessToken, &r.accessClaims, r.accessClaimList(&buf), r.sum.wantsAccessClaims)
		}
		return r.skip()
	})
}

func (r *summaryReader) context() error {
	return r.structField(func(name jsontext.Value) error {
		switch {
		case fieldIs(name, "session"):
			// Only whether it is set matters: an object, validated whole, or null.
			v, err := r.d.ReadValue()
			switch {
			case err != nil:
				return err
			case v.Kind() == jsontext.KindBeginObject || v.Kind() == jsontext.KindNull:
				r.sum.HasSession = v.Kind() == jsontext.KindBeginObject
				return nil
			}
			return r.typeError(v, "object")
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

// The claims kept from each token.
func (r *summaryReader) idClaimList(buf *[1]claim) []claim {
	*buf = [1]claim{{claimPreferredUsername, &r.sum.preferredUsername}}
	return buf[:]
}

func (r *summaryReader) accessClaimList(buf *[2]claim) []claim {
	*buf = [2]claim{{claimSubject, &r.sum.accessSubject}, {claimUserID, &r.sum.accessUserID}}
	return buf[:]
}

// token reads data.identity or data.access (wants says whether Login or
// HasEndUser would look at its claims, from what is read so far). The claims,
// a map, are most of a token's members and seldom needed: Login and
// HasEndUser look at them only for an event with no user profile login, or
// with no user, session or ID token. So a claims object that is not wanted
// yet is kept whole in pending, validated and aliasing the input, for
// resolveClaims to read at the end if it is wanted then. Either way the
// result is encoding/json's; the choice only saves walking the claims.
func (r *summaryReader) token(present *bool, pending *jsontext.Value, claims []claim, wants func() bool) error {
	clearClaims := func() {
		*pending = nil
		for _, c := range claims {
			*c.dst = nil
		}
	}
	return r.present(present, clearClaims, func(name jsontext.Value) error {
		if !fieldIs(name, "claims") {
			return r.skip()
		}
		// A map: null clears it, an object adds to it.
		switch r.d.PeekKind() {
		case jsontext.KindNull:
			_, err := r.d.ReadToken()
			clearClaims()
			return err
		case jsontext.KindBeginObject:
		default:
			v, err := r.d.ReadValue()
			if err != nil {
				return err
			}
			return r.typeError(v, "object")
		}
		// An object after another adds to it: read the first now.
		if err := r.readPending(pending, claims); err != nil {
			return err
		}
		if wants() {
			if _, err := r.d.ReadToken(); err != nil {
				return err
			}
			return readClaims(&r.d, claims)
		}
		v, err := r.d.ReadValue()
		*pending = v
		return err
	})
}

// wantsIDClaims and wantsAccessClaims report whether Login or HasEndUser
// would look at the token's claims, given the other fields.
func (s *Summary) wantsIDClaims() bool { return len(s.ProfileLogin) == 0 }

func (s *Summary) wantsAccessClaims() bool {
	loginFromSub := len(s.ProfileLogin) == 0 && len(s.preferredUsername) == 0
	userFromUID := !s.HasUser && !s.HasSession && !s.HasIDToken
	return loginFromSub || userFromUID
}

// resolveClaims reads the claims objects left pending by token that Login
// and HasEndUser will look at.
func (r *summaryReader) resolveClaims() error {
	if r.sum.wantsIDClaims() {
		var buf [1]claim
		if err := r.readPending(&r.idClaims, r.idClaimList(&buf)); err != nil {
			return err
		}
	}
	if r.sum.wantsAccessClaims() {
		var buf [2]claim
		return r.readPending(&r.accessClaims, r.accessClaimList(&buf))
	}
	return nil
}

// readPending reads a pending claims object, if any, with the second decoder.
func (r *summaryReader) readPending(pending *jsontext.Value, claims []claim) error {
	if *pending == nil {
		return nil
	}
	r.sub.Reset(*pending)
	*pending = nil
	_, err := r.sub.ReadToken()
	if err == nil {
		err = readClaims(&r.sub, claims)
	}
	r.sub.Release()
	return err
}

// readClaims reads the members of a claims object after its '{', keeping the
// string values of claims: keys match exactly, the last duplicate wins, and
// a value of another type leaves no login.
func readClaims(d *jsoncompat.Decoder, claims []claim) error {
	for {
		name, ok, err := d.ReadName()
		if err != nil || !ok {
			return err
		}
		v, err := d.ReadValue()
		if err != nil {
			return err
		}
		for _, c := range claims {
			if keyIs(name, c.name) {
				*c.dst = nil // not a string: the lookup skips it
				if v.Kind() == jsontext.KindString {
					*c.dst = jsoncompat.String(v)
				}
			}
		}
	}
}

// fieldIs matches a quoted object name against a struct field name as
// encoding/json does: exactly or case-insensitively (Unicode simple folding).
//
// name is ASCII letters and '_'. A member name's value is never longer than
// its quoted content, and folds to name only if it is at least as long, with
// equal lengths only for ASCII. So content shorter than name never matches,
// content of name's length matches by ASCII folding alone, and longer content
// can match only through an escape or non-ASCII: up to the first of those,
// its bytes are its value, and one that differs from name decides.
func fieldIs(quoted jsontext.Value, name string) bool {
	raw := quoted[1 : len(quoted)-1]
	switch {
	case len(raw) < len(name):
		return false
	case len(raw) == len(name):
		for i := 0; i < len(raw); i++ {
			if a, b := raw[i], name[i]; a != b && lowerASCII(a) != lowerASCII(b) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(name); i++ {
		a := raw[i]
		if a == '\\' || a >= utf8.RuneSelf {
			return bytes.EqualFold(jsoncompat.String(quoted), []byte(name))
		}
		if a != name[i] && lowerASCII(a) != lowerASCII(name[i]) {
			return false
		}
	}
	// name's length of plain ASCII that folds to it, and more after.
	return false
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
