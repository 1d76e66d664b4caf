package jsoncompat

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/tokenhook/tokenhook/hookserver/internal/race"
)

// validityCases are documents whose validity the Decoder must judge as encoding/json does.
var validityCases = []string{
	``, ` `, `null`, `true`, `false`, `nul`, `nullx`, `0`, `-0`, `01`, `-`, `1.`, `1.5`, `1e5`, `1E+5`,
	`1e`, `1e+`, `.5`, `+1`, `123456789012345678901234567890`, `"a"`, `"a`, `"\u00e9"`, `"\u00g9"`,
	`"\x"`, "\"tab\there\"", `"\ud800"`, `"\udc00\ud800"`, `"\ud800\u0041"`, "\"\xff\"", "\"\xe2\x82\"",
	`{}`, `{ }`, `{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `{1:1}`, `{"a":1 "b":2}`, `{"a":1,"a":2}`,
	`[]`, `[1,]`, `[,1]`, `[1 2]`, `[1,[2,{"x":[]}]]`, `[}`, `{]`, `[1]]`, `[1] [2]`, `{} x`, "\ufeff{}",
	" \t\r\n{\"a\" : [ true , false , null ] } \n", `{"a":{"b":{"c":[{"d":"e"}]}}}`, "[\x00]", "\v1",
}

// readDocument reads one whole document with mixed token and value reads, as
// the hook's readers do: tokens for containers, values for the rest.
func readDocument(d *Decoder) error {
	for {
		var err error
		switch d.PeekKind() {
		case jsontext.KindBeginObject, jsontext.KindBeginArray, jsontext.KindEndObject, jsontext.KindEndArray:
			_, err = d.ReadToken()
		default:
			_, err = d.ReadValue()
		}
		if err != nil {
			return err
		}
		if d.StackDepth() == 0 {
			return d.Finish()
		}
	}
}

func TestDecoderAgreesWithEncodingJSON(t *testing.T) {
	var d Decoder
	for _, doc := range validityCases {
		for name, read := range map[string]func() error{
			"ReadValue": func() error {
				if _, err := d.ReadValue(); err != nil {
					return err
				}
				return d.Finish()
			},
			"tokens": func() error { return readDocument(&d) },
		} {
			d.Reset([]byte(doc))
			err := read()
			if got, want := err == nil, json.Valid([]byte(doc)); got != want {
				t.Errorf("%s(%q) error = %v; json.Valid = %v", name, doc, err, want)
			}
			if err != nil {
				var se *SyntaxError
				if !errors.As(d.SyntaxError(err), &se) {
					t.Errorf("%s(%q): error %v (%T) is not a syntax error", name, doc, err, err)
				}
			}
		}
	}
}

func TestNestingLimit(t *testing.T) {
	const maxDepth = 10000 // encoding/json's
	var d Decoder
	for _, depth := range []int{maxDepth, maxDepth + 1} {
		for name, doc := range map[string]string{
			"arrays":  strings.Repeat("[", depth) + strings.Repeat("]", depth),
			"objects": strings.Repeat(`{"a":`, depth-1) + "{}" + strings.Repeat("}", depth-1),
		} {
			valid := json.Valid([]byte(doc))
			d.Reset([]byte(doc))
			_, err := d.ReadValue()
			if got := err == nil; got != valid {
				t.Errorf("%s, depth %d: ReadValue error = %v; json.Valid = %v", name, depth, err, valid)
			}
			d.Reset([]byte(doc))
			err = readDocument(&d)
			if got := err == nil; got != valid {
				t.Errorf("%s, depth %d: token reads error = %v; json.Valid = %v", name, depth, err, valid)
			}
			if err != nil && !strings.Contains(d.SyntaxError(err).Error(), "exceeded max depth") {
				t.Errorf("%s, depth %d: error %v does not name the depth", name, depth, d.SyntaxError(err))
			}
		}
	}
}

func TestStringAgreesWithEncodingJSON(t *testing.T) {
	var d Decoder
	for _, quoted := range []string{
		`""`, `"plain"`, `"\"\\\/\b\f\n\r\t"`, `"\u00e9\u4e16"`, `"\ud83d\ude00"`, `"\ud83d"`,
		`"\ud83dx"`, `"\ude00\ud83d"`, `"\ud83d\u0041"`, "\"\xff\xfe\"", "\"caf\xc3\xa9\"", "\"\xe2\x82\"",
	} {
		var want string
		if err := json.Unmarshal([]byte(quoted), &want); err != nil {
			t.Fatalf("json.Unmarshal(%q): %v", quoted, err)
		}
		doc := []byte(quoted)
		d.Reset(doc)
		v, err := d.ReadValue()
		if err != nil {
			t.Fatalf("ReadValue(%q): %v", quoted, err)
		}
		got := String(v)
		if string(got) != want {
			t.Errorf("String(%q) = %q; want %q", quoted, got, want)
		}
		if Plain(v) && string(v[1:len(v)-1]) != want {
			t.Errorf("Plain(%q), but the raw bytes differ from the value", quoted)
		}
		// A value that needs no decoding aliases the document.
		aliases := len(got) > 0 && unsafe.SliceData(got) == &doc[1]
		if needsNoDecoding := string(got) == quoted[1:len(quoted)-1]; needsNoDecoding && len(got) > 0 && !aliases {
			t.Errorf("String(%q) copied a value that needs no decoding", quoted)
		}
	}
}

func TestSyntaxErrorQuotesOneCharacter(t *testing.T) {
	cases := map[string]struct {
		doc    string
		offset int64
		msg    string
	}{
		"bad escape":             {doc: `{"a":"\uSECRET"}`, offset: 6, msg: "invalid escape sequence in string"},
		"bad short escape":       {doc: `["\S"]`, offset: 2, msg: "invalid escape sequence in string"},
		"name on the path":       {doc: `{"SECRET":{"x":1 "y"}}`, offset: 17, msg: `invalid character '"' after object value (expecting ',' or '}')`},
		"truncated":              {doc: `{"SECRET":"x`, offset: 12, msg: "unexpected end of input"},
		"empty":                  {doc: "  ", offset: 2, msg: "unexpected end of input"},
		"trailing":               {doc: "{} SECRET", offset: 3, msg: "invalid character 'S' after top-level value"},
		"trailing invalid UTF-8": {doc: "[]\xff", offset: 2, msg: `invalid character '\xff' after top-level value`},
		"literal":                {doc: `[nuSECRET]`, offset: 3, msg: "invalid character 'S' in literal null (expecting 'l')"},
		"control character":      {doc: "[\"SECRET\x01\"]", offset: 8, msg: `invalid character '\x01' in string (expecting non-control character)`},
		"name not a string":      {doc: `{SECRET:1}`, offset: 1, msg: "invalid character 'S' at start of value"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var d Decoder
			d.Reset([]byte(c.doc))
			err := readDocument(&d)
			if err == nil {
				t.Fatal("no error")
			}
			var se *SyntaxError
			if !errors.As(d.SyntaxError(err), &se) {
				t.Fatalf("error %v (%T) is not a *SyntaxError", err, err)
			}
			if se.Offset != c.offset || se.Msg != c.msg {
				t.Errorf("got offset %d, %q; want offset %d, %q", se.Offset, se.Msg, c.offset, c.msg)
			}
			if strings.Contains(se.Error(), "SECRET") || strings.Contains(se.Error(), "SECR") {
				t.Errorf("error %q quotes the input", se)
			}
		})
	}
}

func TestDecoderReuseDoesNotAllocate(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts vary under the race detector")
	}
	doc := []byte(`{"a":[1,{"b":"c\u00e9"}],"d":null,"e":"f"}`)
	var d Decoder
	allocs := testing.AllocsPerRun(100, func() {
		d.Reset(doc)
		if err := readDocument(&d); err != nil {
			t.Fatal(err)
		}
		d.Release()
	})
	if allocs != 0 {
		t.Errorf("Reset, read and Release allocate %v times; want 0", allocs)
	}
}

func TestReleaseDropsTheDocument(t *testing.T) {
	var d Decoder
	d.Reset([]byte(`[1, 2]`))
	if _, err := d.ReadToken(); err != nil {
		t.Fatal(err)
	}
	d.Release()
	if d.data != nil || d.in.Len() != 0 || len(d.UnreadBuffer()) != 0 {
		t.Errorf("a released Decoder still holds the document: %q", d.UnreadBuffer())
	}
}

func TestReadName(t *testing.T) {
	doc := []byte("{ \"a\" : 1 ,\n\t\"b\\\"c\":{\"x\":[]} , \"\" :null,\"\\u00e9\":\"v\" }")
	var d Decoder
	d.Reset(doc)
	if _, err := d.ReadToken(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for {
		name, ok, err := d.ReadName()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if !bytesWithin(name, doc) {
			t.Errorf("name %q is not a slice of the document", name)
		}
		names = append(names, string(name))
		if _, err := d.ReadValue(); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{`"a"`, `"b\"c"`, `""`, `"\u00e9"`}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("names = %q; want %q", names, want)
	}
	if err := d.Finish(); err != nil {
		t.Errorf("Finish: %v", err)
	}
	// A name that is not a string is the decoder's syntax error.
	d.Reset([]byte(`{"a":1,2:3}`))
	_, _ = d.ReadToken()
	_, _, _ = d.ReadName()
	_, _ = d.ReadValue()
	if _, _, err := d.ReadName(); err == nil {
		t.Error("ReadName accepted a number as a name")
	}
}

func bytesWithin(b, doc []byte) bool {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(doc)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return len(b) > 0 && start <= p && p+uintptr(len(b)) <= start+uintptr(len(doc))
}
