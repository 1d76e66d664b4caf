package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
)

// validityCases are documents whose validity SkipValue must judge as encoding/json does.
var validityCases = []string{
	``, ` `, `null`, `true`, `false`, `nul`, `nullx`, `0`, `-0`, `01`, `-`, `1.`, `1.5`, `1e5`, `1E+5`,
	`1e`, `1e+`, `.5`, `+1`, `123456789012345678901234567890`, `"a"`, `"a`, `"\u00e9"`, `"\u00g9"`,
	`"\x"`, "\"tab\there\"", `"\ud800"`, "\"\xff\"", `{}`, `{ }`, `{"a":1}`, `{"a":1,}`, `{"a" 1}`,
	`{a:1}`, `{"a":1 "b":2}`, `[]`, `[1,]`, `[,1]`, `[1 2]`, `[1,[2,{"x":[]}]]`, `[}`, `{]`, `[1]]`,
	`[1] [2]`, " \t\r\n{\"a\" : [ true , false , null ] } \n", `{"a":{"b":{"c":[{"d":"e"}]}}}`,
}

func TestSkipValueAgreesWithEncodingJSON(t *testing.T) {
	for _, doc := range validityCases {
		var s Scanner
		s.Reset([]byte(doc))
		err := s.SkipValue()
		if err == nil {
			err = s.Finish()
		}
		if got, want := err == nil, json.Valid([]byte(doc)); got != want {
			t.Errorf("SkipValue(%q) error = %v; json.Valid = %v", doc, err, want)
		}
	}
}

func TestNestingLimit(t *testing.T) {
	for _, depth := range []int{MaxDepth, MaxDepth + 1} {
		doc := strings.Repeat("[", depth) + strings.Repeat("]", depth)
		var s Scanner
		s.Reset([]byte(doc))
		err := s.SkipValue()
		if got, want := err == nil, json.Valid([]byte(doc)); got != want {
			t.Errorf("depth %d: SkipValue error = %v; json.Valid = %v", depth, err, want)
		}
	}
}

func TestAppendUnquoteAgreesWithEncodingJSON(t *testing.T) {
	for _, quoted := range []string{
		`""`, `"plain"`, `"\"\\\/\b\f\n\r\t"`, `"\u00e9\u4e16"`, `"\ud83d\ude00"`, `"\ud83d"`,
		`"\ud83dx"`, `"\ude00\ud83d"`, `"\ud83d\u0041"`, "\"\xff\xfe\"", "\"caf\xc3\xa9\"", "\"\xe2\x82\"",
	} {
		var want string
		if err := json.Unmarshal([]byte(quoted), &want); err != nil {
			t.Fatalf("json.Unmarshal(%q): %v", quoted, err)
		}
		var s Scanner
		s.Reset([]byte(quoted))
		raw, plain, err := s.String()
		if err != nil {
			t.Fatalf("String(%q): %v", quoted, err)
		}
		got := string(AppendUnquote(nil, raw))
		if got != want {
			t.Errorf("AppendUnquote(%q) = %q; want %q", quoted, got, want)
		}
		if plain && string(raw) != want {
			t.Errorf("String(%q) reports plain, but the raw bytes differ from the value", quoted)
		}
	}
}

func TestObjectWalk(t *testing.T) {
	var s Scanner
	s.Reset([]byte(` {"a": [1, {"x": null}], "b" : "v", "c": {}} `))
	if err := s.ObjectStart(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for {
		key, _, ok, err := s.NextKey()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		keys = append(keys, string(key))
		if string(key) == "b" {
			raw, _, err := s.String()
			if err != nil || string(raw) != "v" {
				t.Fatalf("String() = %q, %v", raw, err)
			}
			continue
		}
		if err := s.SkipValue(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Finish(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keys, ","); got != "a,b,c" {
		t.Errorf("keys = %s; want a,b,c", got)
	}
}

func TestArrayWalkRejectsTrailingComma(t *testing.T) {
	var s Scanner
	s.Reset([]byte(`[1,]`))
	if err := s.ArrayStart(); err != nil {
		t.Fatal(err)
	}
	for {
		more, err := s.NextElement()
		if err != nil {
			return // want
		}
		if !more {
			t.Fatal("[1,] read as a valid array")
		}
		if err := s.SkipValue(); err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzSkipValue(f *testing.F) {
	for _, doc := range validityCases {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var s Scanner
		s.Reset(doc)
		err := s.SkipValue()
		if err == nil {
			err = s.Finish()
		}
		if got, want := err == nil, json.Valid(doc); got != want {
			t.Fatalf("SkipValue(%q) error = %v; json.Valid = %v", doc, err, want)
		}
	})
}
