package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"unsafe"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/go-cmp/cmp"

	"github.com/tokenhook/tokenhook/hookserver/internal/jsoncompat"
	"github.com/tokenhook/tokenhook/hookserver/internal/race"
)

// specExample is SPEC 1.5, Okta's TokenPayLoadExample, verbatim.
func specExample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/token-hook-request.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeSpecExample(t *testing.T) {
	e, err := DecodeEvent(specExample(t))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"eventType", e.EventType, EventType},
		{"eventId", e.EventID, "3OWo4oo-QQ-rBWfRyTmQYw"},
		{"login", e.Login(), "administrator1@clouditude.net"},
		{"tokens", e.Tokens(), []Token{IDToken, AccessToken}},
		{"ID token lifetime", e.Data.Identity.Token.Lifetime.Expiration, int64(3600)},
		{"preferred_username", e.Data.Identity.Claims["preferred_username"], "administrator1@clouditude.net"},
		{"access sub", e.Data.Access.Claims["sub"], "administrator1@clouditude.net"},
		{"scope openid", e.Data.Access.Scopes["openid"], Scope{ID: "scpq7bW1cp6dcvrz80g3", Action: "GRANT"}},
		{"scope request", e.Data.Context.Protocol.Request.Scope, "openid profile email"},
		{"client", *e.Data.Context.Protocol.Client, Client{ID: "customClientIdNative", Name: "Native client", Type: "PUBLIC"}},
		{"session amr", e.Data.Context.Session.AMR, []string{"PASSWORD"}},
		{"policy", *e.Data.Context.Policy, Policy{ID: "00pq8lGaLlI8APuqY0g3", Rule: PolicyRule{ID: "0prq8mLKuKAmavOvq0g3"}}},
		{"refresh token", *e.Data.RefreshToken, RefreshToken{JTI: "oarob4a0tckCkGcyo1d6"}},
		{"request URL", strings.HasPrefix(e.Data.Context.Request.URL.Value, "https://"), true},
		{"end user", e.HasEndUser(), true},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}

func TestDecodeEventIgnoresUnknownFields(t *testing.T) {
	e, err := DecodeEvent([]byte(`{"eventType":"` + EventType + `","future":{"x":[1]},"data":{"context":{"newThing":1}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if e.EventType != EventType {
		t.Errorf("eventType = %q", e.EventType)
	}
}

func TestLoginLookupOrder(t *testing.T) {
	cases := map[string]struct {
		reason string
		event  string
		login  string
		endUse bool
	}{
		"profile login first": {
			reason: "context.user.profile.login wins over the token claims",
			event:  `{"data":{"context":{"user":{"profile":{"login":"a@x"}}},"identity":{"claims":{"preferred_username":"b@x"}},"access":{"claims":{"sub":"c@x"}}}}`,
			login:  "a@x", endUse: true,
		},
		"preferred_username second": {
			reason: "Okta's guide reads the ID token's preferred_username",
			event:  `{"data":{"identity":{"claims":{"preferred_username":"b@x"}},"access":{"claims":{"sub":"c@x"}}}}`,
			login:  "b@x", endUse: true,
		},
		"access sub last": {
			reason: "the access token's sub is the login by default",
			event:  `{"data":{"access":{"claims":{"sub":"c@x","uid":"00u1"}}}}`,
			login:  "c@x", endUse: true,
		},
		"access sub with no sign of a user": {
			reason: "no user, session, ID token or uid: a machine client, whatever the grant type says",
			event:  `{"data":{"access":{"claims":{"sub":"0oa1","cid":"0oa1"}}}}`,
			login:  "0oa1", endUse: false,
		},
		"session context only": {
			event: `{"data":{"context":{"session":{}},"access":{"claims":{"sub":"c@x"}}}}`,
			login: "c@x", endUse: true,
		},
		"empty profile login skipped": {
			event: `{"data":{"context":{"user":{"profile":{"login":""}}},"access":{"claims":{"sub":"c@x"}}}}`, // a user context
			login: "c@x", endUse: true,
		},
		"non-string claim skipped": {
			event: `{"data":{"identity":{"claims":{"preferred_username":7}},"access":{"claims":{"sub":"c@x"}}}}`,
			login: "c@x", endUse: true,
		},
		"ID token sub is not a login": {
			reason: "the ID token's sub is the user id",
			event:  `{"data":{"identity":{"claims":{"sub":"00u1"}}}}`,
		},
		"client credentials": {
			reason: "no end user: the access token's sub is the client id",
			event:  `{"data":{"context":{"protocol":{"request":{"grant_type":"client_credentials"}}},"access":{"claims":{"sub":"0oa1"}}}}`,
			login:  "0oa1", endUse: false,
		},
		"nothing": {event: `{"data":{}}`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e, err := DecodeEvent([]byte(c.event))
			if err != nil {
				t.Fatal(err)
			}
			sum, err := ReadSummary([]byte(c.event))
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Login(); got != c.login {
				t.Errorf("Event.Login() = %q; want %q (%s)", got, c.login, c.reason)
			}
			if got := string(sum.Login()); got != c.login {
				t.Errorf("Summary.Login() = %q; want %q (%s)", got, c.login, c.reason)
			}
			if got := e.HasEndUser(); got != c.endUse {
				t.Errorf("Event.HasEndUser() = %v; want %v", got, c.endUse)
			}
			if got := sum.HasEndUser(); got != c.endUse {
				t.Errorf("Summary.HasEndUser() = %v; want %v", got, c.endUse)
			}
		})
	}
}

// summaryCases are events on which ReadSummary must agree with DecodeEvent; they
// also seed FuzzDecodeEvent.
var summaryCases = []string{
	`{"eventType":"com.okta.oauth2.tokens.transform","eventId":"e1","data":{"identity":{"claims":{}}}}`,
	`{"EVENTTYPE":"x","EventId":"e2"}`,
	`{"eventT\u0079pe":"x","eventId":"\u00e9"}`,
	`{"data":{"identity":{"claims":{"preferred_username":"a"}},"identity":null}}`,
	`{"data":{"identity":{"claims":{"preferred_username":"a"}},"identity":{}}}`,
	`{"data":{"identity":{"claims":{"preferred_username":"a"}}},"data":{"access":{"claims":{"sub":"b"}}}}`,
	`{"data":{"identity":{"claims":{"preferred_username":"a","preferred_username":null}}}}`,
	`{"data":{"identity":{"claims":{"Preferred_Username":"a"}}}}`,
	`{"data":{"context":{"user":{"profile":{"login":"a"}},"user":null}}}`,
	`{"data":{"context":{"user":{"profile":{"login":"a"}}},"context":null}}`,
	`{"data":{"context":{"user":{"profile":{"login":"a","login":null}}}}}`,
	`{"data":{"context":{"protocol":{"request":{"grant_type":"client_credentials"}},"protocol":{"request":null}}}}`,
	`{"data":{"context":{"ſser":{"profile":{"login":"kelvin"}}}}}`,
	`{"data":{"context":{"session":{"id":"s"},"session":null},"access":{"claims":{"sub":"a","uid":"u","uid":7}}}}`,
	`{"data":{"context":{"session":{}},"access":{"claims":{"sub":"a"}},"access":{"claims":null}}}`,
	`{"data":null}`, `null`, `[]`, `"x"`, `{"data":[]}`, `{"data":{"identity":5}}`,
	`{"data":{"access":{"claims":[]}}}`, `{"eventType":5}`, `{"data":{"context":{"user":{"profile":{"login":true}}}}}`,
	`{"eventId":"x"} trailing`, `{"eventId":"x"`, "{\"eventId\":\"\xff\"}",
	`{"data":[],"x":}`, `{"data":{"identity":[1,}}`, `{"eventType":"a\ud800","eventId":"\ud83d\u0041"} `,
	`{"data":{"access":{"claims":{"sub":"a","sub":{"x":null}}}}}`, `{"data":{"context":{"protocol":{"request":{"Grant_Type":"x"}}}}}`,
	// Claims read at once, left for the end, or left and then needed.
	`{"data":{"access":{"claims":{"sub":"a","uid":"u"}},"context":{"user":{"profile":{"login":"p"}}}}}`,
	`{"data":{"context":{"user":{"profile":{"login":"p"}}},"access":{"claims":{"sub":"a"}},"context":{"user":null}}}`,
	`{"data":{"context":{"user":{"profile":{"login":"p"}}},"identity":{"claims":{"preferred_username":"i"}},"identity":{"claims":{"x":1}},"context":{"user":null}}}`,
	`{"data":{"context":{"user":{"profile":{"login":"p"}}},"identity":{"claims":{"preferred_username":"i"},"claims":null},"context":{"user":null}}}`,
	`{"data":{"context":{"user":{"profile":{"login":"p"}}},"access":{"claims":{"sub":"s"}},"access":null,"context":{"user":null}}}`,
	`{"data":{"context":{"session":{}},"access":{"claims":{"sub":"s","uid":"u"}},"context":{"session":null}}}`,
	`{"data":{"context":{"user":{"profile":{"login":"p"}}},"access":{"claims":{"sub":"s"}},"access":{"claims":{"sub":"t"}},"context":{"user":null}}}`,
}

func TestReadSummaryErrors(t *testing.T) {
	cases := map[string]struct {
		reason string
		doc    string
		check  func(error) bool
		offset int64 // of a syntax or type error
		text   string
	}{
		"syntax": {
			doc: `{"eventId":"x" "data":{}}`, check: isSyntax, offset: 15,
			text: `invalid JSON at offset 15: invalid character '"' after object value (expecting ',' or '}')`,
		},
		"truncated": {doc: `{"eventType":`, check: isSyntax, offset: 13, text: "invalid JSON at offset 13: unexpected end of input"},
		"empty":     {doc: ``, check: isSyntax, offset: 0, text: "unexpected end of input"},
		"trailing":  {doc: `{} {}`, check: isSyntax, offset: 3, text: "invalid character '{' after top-level value"},
		"type": {
			doc: `{"data":{"context":[1,2]}}`, check: isType, offset: 19,
			text: "JSON value at offset 19 is array, want object",
		},
		"string wanted": {doc: `{"eventId":{"a":1}}`, check: isType, offset: 11, text: "is object, want string"},
		"syntax after a type error": {
			reason: "encoding/json checks the whole document before decoding",
			doc:    `{"data":[],"eventId":"x",}`, check: isSyntax, offset: 24, text: "invalid character ',' at start of value",
		},
		"not an object":            {doc: `[1,2]`, check: func(err error) bool { return errors.Is(err, ErrNotObject) }, text: ErrNotObject.Error()},
		"not an object, then junk": {doc: `[1,2] x`, check: isSyntax, offset: 6, text: "after top-level value"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ReadSummary([]byte(c.doc))
			if err == nil {
				t.Fatal("ReadSummary accepted it")
			}
			if !c.check(err) {
				t.Fatalf("error %v (%T) is not of the expected kind (%s)", err, errors.Unwrap(err), c.reason)
			}
			if !strings.Contains(err.Error(), c.text) {
				t.Errorf("error %q does not contain %q", err, c.text)
			}
			var se *jsoncompat.SyntaxError
			var te *TypeError
			switch {
			case errors.As(err, &se) && se.Offset != c.offset:
				t.Errorf("syntax error at offset %d; want %d", se.Offset, c.offset)
			case errors.As(err, &te) && te.Offset != c.offset:
				t.Errorf("type error at offset %d; want %d", te.Offset, c.offset)
			}
		})
	}
}

func isSyntax(err error) bool {
	var se *jsoncompat.SyntaxError
	return errors.As(err, &se)
}

func isType(err error) bool {
	var te *TypeError
	return errors.As(err, &te)
}

// TestReadSummaryNestingLimit: ReadSummary rejects what encoding/json rejects
// for depth, whether the deep value is skipped or inside fields it reads.
func TestReadSummaryNestingLimit(t *testing.T) {
	const maxDepth = 10000 // encoding/json's
	for _, depth := range []int{maxDepth, maxDepth + 1} {
		for _, prefix := range []string{`{"future":`, `{"data":{"context":{"user":{"profile":{"x":`} {
			outer := strings.Count(prefix, "{")
			doc := prefix + strings.Repeat("[", depth-outer) + strings.Repeat("]", depth-outer) + strings.Repeat("}", outer)
			checkSummary(t, []byte(doc))
			if _, err := ReadSummary([]byte(doc)); (err == nil) != (depth <= maxDepth) {
				t.Errorf("depth %d under %s: ReadSummary error = %v", depth, prefix, err)
			}
		}
	}
}

// TestReadSummaryAliasesTheInput: values with nothing to decode are slices of
// the input (the handler relies on it to keep the eventId past the call), and
// the pooled decoder keeps no reference to the input after it returns.
func TestReadSummaryAliasesTheInput(t *testing.T) {
	doc := specExample(t)
	sum, err := ReadSummary(doc)
	if err != nil {
		t.Fatal(err)
	}
	id := sum.EventID
	if len(id) == 0 || !bytesWithin(id, doc) {
		t.Errorf("EventID %q is not a slice of the input", id)
	}
	if login := sum.Login(); !bytesWithin(login, doc) {
		t.Errorf("login %q is not a slice of the input", login)
	}
	if _, err := ReadSummary([]byte(`{"eventId":"other"}`)); err != nil {
		t.Fatal(err)
	}
	if string(id) != "3OWo4oo-QQ-rBWfRyTmQYw" {
		t.Errorf("EventID changed to %q after the next call", id)
	}
}

func bytesWithin(b, doc []byte) bool {
	if len(b) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(doc)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return start <= p && p+uintptr(len(b)) <= start+uintptr(len(doc))
}

func TestReadSummaryAgreesWithDecodeEvent(t *testing.T) {
	docs := append([]string{string(specExample(t))}, summaryCases...)
	for _, doc := range docs {
		checkSummary(t, []byte(doc))
	}
}

// checkSummary is the property FuzzDecodeEvent checks: on any input that
// DecodeEvent accepts, ReadSummary succeeds and reports the same fields; it
// accepts nothing that is not JSON, and rejects valid JSON only for a type error
// that DecodeEvent rejects too.
func checkSummary(t *testing.T, doc []byte) {
	t.Helper()
	sum, serr := ReadSummary(doc)
	e, eerr := DecodeEvent(doc)
	valid := json.Valid(doc)
	switch {
	case serr == nil && !valid:
		t.Fatalf("ReadSummary accepted invalid JSON %q", doc)
	case serr != nil && eerr == nil:
		t.Fatalf("ReadSummary(%q) = %v; DecodeEvent accepted it", doc, serr)
	case eerr != nil && valid && serr == nil:
		var te *json.UnmarshalTypeError
		if !errors.As(eerr, &te) {
			t.Fatalf("DecodeEvent(%q) = %v, not a type error, yet ReadSummary accepted it", doc, eerr)
		}
	}
	if serr != nil || eerr != nil {
		return
	}
	got := map[string]any{
		"eventType": string(sum.EventType), "eventId": string(sum.EventID), "login": string(sum.Login()),
		"grantType": string(sum.GrantType), "id": sum.Has(IDToken), "access": sum.Has(AccessToken),
		"endUser": sum.HasEndUser(),
	}
	want := map[string]any{
		"eventType": e.EventType, "eventId": e.EventID, "login": e.Login(),
		"grantType": e.GrantType(), "id": e.Has(IDToken), "access": e.Has(AccessToken),
		"endUser": e.HasEndUser(),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("ReadSummary(%q) disagrees with DecodeEvent (-DecodeEvent +ReadSummary):\n%s", doc, diff)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add(specExample(f))
	for _, doc := range summaryCases {
		f.Add([]byte(doc))
	}
	f.Fuzz(checkSummary)
}

func TestReadSummaryAllocations(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts vary under the race detector")
	}
	spec := specExample(t)
	var ev map[string]any
	if err := json.Unmarshal(spec, &ev); err != nil {
		t.Fatal(err)
	}
	sorted, err := json.Marshal(ev) // "access" before "context": its claims are read at once
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string][]byte{
		"spec example":      spec,
		"keys sorted":       sorted,
		"claims at the end": []byte(`{"data":{"context":{"user":{"profile":{"login":"p"}}},"access":{"claims":{"sub":"a"}},"context":{"user":null}}}`),
	} {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := ReadSummary(doc); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: ReadSummary allocates %v times per event; want 0", name, allocs)
		}
	}
}

func BenchmarkReadSummary(b *testing.B) {
	indented := specExample(b)
	var compact bytes.Buffer
	if err := json.Compact(&compact, indented); err != nil {
		b.Fatal(err)
	}
	// bench-hook's event: a production org's shape, with escapes in the URL.
	benchHook, err := os.ReadFile("testdata/bench-hook-event.json")
	if err != nil {
		b.Fatal(err)
	}
	for name, doc := range map[string][]byte{"indented": indented, "compact": compact.Bytes(), "bench-hook": benchHook} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ReadSummary(doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	doc := specExample(b)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFieldIs checks the shortcuts of fieldIs against decoding the name and
// folding it as encoding/json does.
func TestFieldIs(t *testing.T) {
	cases := []struct {
		quoted, field string
		want          bool
	}{
		{`"eventType"`, "eventType", true},
		{`"EVENTTYPE"`, "eventType", true},
		{`"eventTyp"`, "eventType", false},
		{`"eventTypeVersion"`, "eventType", false},
		{`"eventTime"`, "eventType", false},
		{`"eventT\u0079pe"`, "eventType", true},
		{`"\u0065ventType"`, "eventType", true},
		{`"eventType\u0000"`, "eventType", false},
		{`"ſser"`, "user", false},
		{`"ſession"`, "session", true},
		{`"uſer"`, "user", true},
		{`"xſer"`, "user", false},
		{`"\u212aey"`, "key", true},
		{`"Key\u00e9"`, "key", false},
		{`"grant_type"`, "grant_type", true},
		{`"GRANT_TYPE"`, "grant_type", true},
		{`"grant-type"`, "grant_type", false},
		{`""`, "data", false},
		{"\"dat\xff\"", "data", false},
	}
	for _, c := range cases {
		name := jsontext.Value(c.quoted)
		if got := fieldIs(name, c.field); got != c.want {
			t.Errorf("fieldIs(%s, %q) = %v; want %v", c.quoted, c.field, got, c.want)
		}
		if folded := bytes.EqualFold(jsoncompat.String(name), []byte(c.field)); folded != c.want {
			t.Errorf("case %s, %q: want %v, but decoding and folding says %v", c.quoted, c.field, c.want, folded)
		}
	}
}
