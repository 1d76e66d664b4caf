package patients

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := map[string]struct {
		reason string
		in     string
		want   map[string]string // login → patient ID, all of the list
	}{
		"csv": {
			in:   "login,patientID\nalice@example.com,1235\nbob@example.com,P-77\n",
			want: map[string]string{"alice@example.com": "1235", "bob@example.com": "P-77"},
		},
		"csv header only": {in: "login,patientID\n", want: map[string]string{}},
		"csv columns in any order, case and extra columns": {
			in:   "Name,PATIENTID,Login\nAlice,1235,alice@example.com\n",
			want: map[string]string{"alice@example.com": "1235"},
		},
		"csv Okta sample names": {
			in:   "username,ExternalServicePatientID\njohn.doe@example.com,1234\n",
			want: map[string]string{"john.doe@example.com": "1234"},
		},
		"csv CRLF, BOM, blank lines, quotes and spaces": {
			in:   "\ufefflogin,patientID\r\n\r\n\"doe, jane@example.com\",\"12,34\"\r\n  bob@example.com , 7 \r\n",
			want: map[string]string{"doe, jane@example.com": "12,34", "bob@example.com": "7"},
		},
		"json Okta sample": {
			reason: "the patients array of Okta's token hook guide, as JSON",
			in: `[{"username": "john.doe@example.com", "ExternalServicePatientID": "1234"},
			      {"username": "jane.doe@example.com", "ExternalServicePatientID": "1235"}]`,
			want: map[string]string{"john.doe@example.com": "1234", "jane.doe@example.com": "1235"},
		},
		"json login, number ID, unknown keys": {
			in:   ` [{"login":"a@x","patientID":42,"note":{"x":[1]}}]`,
			want: map[string]string{"a@x": "42"},
		},
		"json escapes": {
			in:   `[{"login":"caf\u00e9@x","patientID":"\u0031"}]`,
			want: map[string]string{"café@x": "1"},
		},
		"json empty": {in: "[]", want: map[string]string{}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			l, err := Parse([]byte(c.in))
			if err != nil {
				t.Fatalf("Parse: %v (%s)", err, c.reason)
			}
			if l.Len() != len(c.want) {
				t.Errorf("Len() = %d; want %d", l.Len(), len(c.want))
			}
			for login, id := range c.want {
				if got, ok := l.Lookup(login); !ok || got != id {
					t.Errorf("Lookup(%q) = %q, %v; want %q", login, got, ok, id)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]struct {
		in       string
		wantLine int
		reason   string // a substring of ParseError.Reason
	}{
		"empty file":            {in: "", wantLine: 1, reason: "empty file"},
		"no header":             {in: "alice@example.com,1235\n", wantLine: 1, reason: "no login column"},
		"no patientID column":   {in: "login,name\na,b\n", wantLine: 1, reason: "no patientID column"},
		"two login columns":     {in: "login,username,patientID\n", wantLine: 1, reason: "more than one login column"},
		"empty login":           {in: "login,patientID\na,1\n ,2\n", wantLine: 3, reason: "empty login"},
		"empty patient ID":      {in: "login,patientID\na,1\nb,\n", wantLine: 3, reason: "empty patientID"},
		"missing field":         {in: "login,patientID\na,1\nb\n", wantLine: 3, reason: "wrong number of fields"},
		"bad quote":             {in: "login,patientID\na\"b,1\n", wantLine: 2, reason: `bare "`},
		"duplicate":             {in: "login,patientID\nAlice@x,1\nb,2\nalice@X,3\n", wantLine: 4, reason: "duplicate login (first on line 2)"},
		"duplicate non-ASCII":   {in: "login,patientID\nstraße,1\nstraße,2\n", wantLine: 3, reason: "duplicate login"},
		"json not objects":      {in: "[\n1]", wantLine: 2, reason: "array element is number"},
		"json not an array":     {in: "  [\n{}\n", wantLine: 2, reason: "no login field"},
		"json missing ID":       {in: "[\n {\"login\":\"a\",\"patientID\":\"1\"},\n {\"login\":\"b\"}\n]", wantLine: 3, reason: "no patientID field"},
		"json empty login":      {in: "[{\"login\":\"a\",\"patientID\":\"1\"},\n\n{\"username\":\"\",\"patientID\":\"2\"}]", wantLine: 3, reason: "empty login"},
		"json null ID":          {in: "[{\"login\":\"a\",\"patientID\":null}]", wantLine: 1, reason: "empty patientID"},
		"json login not string": {in: "[\n{\"login\":7,\"patientID\":\"1\"}]", wantLine: 2, reason: "login is number"},
		"json both login names": {in: "[{\"login\":\"a\",\"username\":\"b\",\"patientID\":\"1\"}]", wantLine: 1, reason: "more than one login field"},
		"json duplicate":        {in: "[{\"login\":\"a\",\"patientID\":\"1\"},\n{\"login\":\"A\",\"patientID\":\"2\"}]", wantLine: 2, reason: "duplicate login (first on line 1)"},
		"json syntax":           {in: "[{\"login\":\"a\",\n\"patientID\":\"1\"}\n{}]", wantLine: 3, reason: "invalid JSON"},
		"json trailing data":    {in: "[]\n[]", wantLine: 2, reason: "invalid JSON: invalid character '[' after top-level value"},
		"json bad escape":       {in: "[{\"login\":\"a\",\n\"patientID\":\"\\q\"}]", wantLine: 2, reason: "invalid JSON: invalid escape sequence in string"},
		"json truncated":        {in: "[{\"login\":\"a\",\n\"patientID\":", wantLine: 2, reason: "invalid JSON: unexpected end of input"},
		"json ID is object":     {in: "[\n{\"login\":\"a\",\n\"patientID\":{\"v\":1}}]", wantLine: 2, reason: "patientID is object, want a string"},
		"json ID is boolean":    {in: "[{\"login\":\"a\",\"patientID\":true}]", wantLine: 1, reason: "patientID is boolean, want a string"},
		"json element is null":  {in: "[{\"login\":\"a\",\"patientID\":\"1\"},\n\n null]", wantLine: 3, reason: "array element is null"},
		"json too deep":         {in: "[{\"login\":\"a\",\"patientID\":\"1\",\n\"x\":" + strings.Repeat("[", 10000) + "}]", wantLine: 2, reason: "invalid JSON: exceeded max depth"},
		"json first problem wins": {
			in: "[{\"login\":7,\"patientID\":\"1\"},\n{\"login\":\"b\",,}]", wantLine: 1, reason: "login is number",
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			l, err := Parse([]byte(c.in))
			if err == nil {
				t.Fatalf("Parse accepted it, with %d patients", l.Len())
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *ParseError", err, err)
			}
			if pe.Line != c.wantLine || !strings.Contains(pe.Reason, c.reason) {
				t.Errorf("error = %q; want line %d and a reason containing %q", err, c.wantLine, c.reason)
			}
			if want := fmt.Sprintf("line %d: ", pe.Line); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error text %q does not start with %q", err, want)
			}
		})
	}
}

// TestParseErrorsHoldNoPatientData checks that no error repeats a login or a patient ID.
func TestParseErrorsHoldNoPatientData(t *testing.T) {
	const login, id = "secret.person@example.com", "PID-SECRET-99"
	for _, in := range []string{
		login + "," + id + "\n",
		"login,patientID\n" + login + "," + id + "\n" + login + ",x\n",
		"login,patientID\n" + login + "\n",
		"login,patientID\n\"" + login + "\"x," + id + "\n",
		"[{\"login\":\"" + login + "\",\"patientID\":\"" + id + "\"},{\"login\":\"" + login + "\",\"patientID\":\"" + id + "\"}]",
		"[{\"login\":\"" + login + "\",\"patientID\":{\"v\":\"" + id + "\"}}]",
		"[{\"login\":\"" + login + "\" \"patientID\":\"" + id + "\"}]",
		"[\"" + login + "\"]",
		"[{\"login\":\"\\u" + login + "\",\"patientID\":\"" + id + "\"}]",
		"[{\"login\":\"a\",\"patientID\":\"" + id + "\\" + id + "\"}]",
		"[{\"" + login + "\":\"" + id + "\" \"patientID\":1}]",
		"[{\"" + login + "\":{\"" + id + "\":[1 2]}}]",
	} {
		_, err := Parse([]byte(in))
		if err == nil {
			t.Fatalf("Parse(%q) succeeded", in)
		}
		if msg := err.Error(); strings.Contains(msg, "secret") || strings.Contains(msg, "SECRET") {
			t.Errorf("Parse(%q) error %q holds patient data", in, msg)
		}
	}
}

func TestLookup(t *testing.T) {
	l, err := Parse([]byte("login,patientID\nAlice.Smith@Example.com,1\nstraße@example.com,2\nkim@example.com,3\nsam@example.com,4\nJosé@example.com,5\n"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		login string
		want  string
	}{
		{"exact", "Alice.Smith@Example.com", "1"},
		{"ASCII lower case", "alice.smith@example.com", "1"},
		{"ASCII upper case", "ALICE.SMITH@EXAMPLE.COM", "1"},
		{"non-ASCII exact", "straße@example.com", "2"},
		{"non-ASCII exact, other", "José@example.com", "5"},
		{"prefix", "alice.smith@example.co", ""},
		{"empty", "", ""},
		// Lookalikes: Unicode folding equates each with an ASCII login; Okta
		// may hold them as other users, who must not get that patient's ID.
		{"long s U+017F", "ſam@example.com", ""},
		{"Kelvin sign U+212A", "\u212aim@example.com", ""},
		{"Kelvin sign, lower rest", "\u212aIM@EXAMPLE.COM", ""},
		{"fullwidth letters", "ｓａｍ@example.com", ""},
		{"dotless i U+0131", "al\u0131ce.smith@example.com", ""},
		{"dotted capital I U+0130", "AL\u0130CE.SMITH@EXAMPLE.COM", ""},
		{"Cyrillic a U+0430", "\u0430lice.smith@example.com", ""},
		{"combining mark", "sam\u0301@example.com", ""},
		{"capital sharp s U+1E9E", "STRA\u1e9eE@EXAMPLE.COM", ""},
		{"ss for ß", "STRASSE@example.com", ""},
		{"NFD é", "Jose\u0301@example.com", ""},
		{"upper case of non-ASCII login", "JOSÉ@EXAMPLE.COM", ""},
		{"ASCII case of non-ASCII login", "josé@example.com", ""},
		{"zero-width space", "sam\u200b@example.com", ""},
		{"trailing NBSP", "sam@example.com\u00a0", ""},
		{"invalid UTF-8", "sam@example.com\xff", ""},
	}
	for _, c := range cases {
		got, ok := l.Lookup(c.login)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("%s: Lookup(%q) = %q, %v; want %q", c.name, c.login, got, ok, c.want)
		}
		if gotB, _ := l.LookupBytes([]byte(c.login)); gotB != got {
			t.Errorf("%s: LookupBytes(%q) = %q; Lookup says %q", c.name, c.login, gotB, got)
		}
	}
	var none *List
	if _, ok := none.Lookup("a"); ok || none.Len() != 0 {
		t.Error("a nil List is not empty")
	}
}

// TestLookalikeLoginsAreDistinctPatients: a list may hold both a login and
// its Unicode lookalike, each with its own patient, and each finds only its own.
func TestLookalikeLoginsAreDistinctPatients(t *testing.T) {
	l, err := Parse([]byte("login,patientID\nsam@example.com,S\nſam@example.com,LONG-S\nkim@example.com,K\n\u212aim@example.com,KELVIN\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	for login, want := range map[string]string{
		"sam@example.com": "S", "SAM@example.com": "S", "ſam@example.com": "LONG-S",
		"kim@example.com": "K", "KIM@EXAMPLE.COM": "K", "\u212aim@example.com": "KELVIN",
	} {
		if got, _ := l.Lookup(login); got != want {
			t.Errorf("Lookup(%q) = %q; want %q", login, got, want)
		}
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	l, err := Parse([]byte("login,patientID\nAlice@Example.com,1\n"))
	if err != nil {
		t.Fatal(err)
	}
	login := []byte("alice@EXAMPLE.com")
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := l.LookupBytes(login); !ok {
			t.Fatal("not found")
		}
		if _, ok := l.Lookup("ALICE@example.com"); !ok {
			t.Fatal("not found")
		}
	})
	if allocs != 0 {
		t.Errorf("Lookup allocates %v times; want 0", allocs)
	}
}

// reasonPatterns are every reason a ParseError may give: a fixed text with
// numbers and, for JSON syntax errors, one quoted character of the input.
var reasonPatterns = regexp.MustCompile(`^(` + strings.Join([]string{
	`empty file: want a CSV header line login,patientID or a JSON array`,
	`header has no (login|patientID) column: want a first line like login,patientID`,
	`header has more than one (login column \(login, username\)|patient ID column \(patientID, ExternalServicePatientID\))`,
	`empty (login|patientID)`,
	`duplicate login \(first on line \d+\)`,
	`wrong number of fields`,
	`bare " in non-quoted-field`,
	`extraneous or missing " in quoted-field`,
	`array element is [a-z ]+, want an object with login and patientID`,
	`object has no (login field \(login or username\)|patientID field \(patientID or ExternalServicePatientID\))`,
	`object has more than one (login field \(login, username\)|patient ID field \(patientID, ExternalServicePatientID\))`,
	`(login|patientID) is [a-z ]+, want a string`,
	// One character as strconv.QuoteRune quotes it, or an invalid byte as '\xff'.
	`invalid JSON: invalid character '(\\x[0-9a-f]{1,2}|\\u[0-9a-f]{4}|\\U[0-9a-f]{8}|\\.|[^\\'])' ` +
		`(at start of value|after top-level value|after object name \(expecting ':'\)|after object value \(expecting ',' or '\}'\)|` +
		`after array element \(expecting ',' or '\]'\)|in literal (null|true|false) \(expecting '[a-z]'\)|` +
		`in number \(expecting digit\)|in string \(expecting non-control character\)|at start of string \(expecting '"'\))`,
	`invalid JSON: (unexpected end of input|exceeded max depth|invalid escape sequence in string|object member name must be a string)`,
}, "|") + `)$`)

func FuzzParsePatients(f *testing.F) {
	for _, s := range []string{
		"login,patientID\nalice@example.com,1235\n",
		`[{"username":"john.doe@example.com","ExternalServicePatientID":"1234"}]`,
		"login,patientID\na,1\nA,2\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse(data)
		if err == nil {
			checkAgainstCSV(t, data, l)
			return
		}
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("error %v (%T) is not a *ParseError", err, err)
		}
		if lines := strings.Count(string(data), "\n") + 1; pe.Line < 1 || pe.Line > lines {
			t.Fatalf("error %q names line %d of a %d-line input", err, pe.Line, lines)
		}
		// A reason outside the known texts might carry patient data.
		if !reasonPatterns.MatchString(pe.Reason) {
			t.Fatalf("unexpected error reason %q", pe.Reason)
		}
	})
}

// checkAgainstCSV checks a parsed CSV list against encoding/csv's records:
// every record's login finds its patient ID, and nothing else is in the list.
func checkAgainstCSV(t *testing.T, data []byte, l *List) {
	t.Helper()
	data = bytes.TrimPrefix(data, []byte(utf8BOM))
	if first := bytes.TrimLeft(data, " \t\r\n"); len(first) > 0 && first[0] == '[' {
		return // JSON
	}
	records, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil || len(records) == 0 {
		t.Fatalf("Parse accepted CSV that encoding/csv rejects: %v", err)
	}
	loginCol, idCol, err := csvColumns(records[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records[1:] {
		login, want := strings.TrimSpace(r[loginCol]), strings.TrimSpace(r[idCol])
		if got, ok := l.Lookup(login); !ok || got != want {
			t.Fatalf("Lookup(%q) = %q, %v; want %q", login, got, ok, want)
		}
	}
	if l.Len() != len(records)-1 {
		t.Fatalf("Len() = %d; want %d records", l.Len(), len(records)-1)
	}
}

func BenchmarkParse100k(b *testing.B) {
	for _, format := range []string{"csv", "json"} {
		b.Run(format, func(b *testing.B) {
			data := generate(100_000, format)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	l, err := Parse(generate(100_000, "csv"))
	if err != nil {
		b.Fatal(err)
	}
	login := []byte("Patient.00042424@Example.org")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := l.LookupBytes(login); !ok {
			b.Fatal("not found")
		}
	}
}

func generate(n int, format string) []byte {
	var sb strings.Builder
	if format == "json" {
		sb.WriteString("[\n")
		for i := range n {
			if i > 0 {
				sb.WriteString(",\n")
			}
			fmt.Fprintf(&sb, `  {"login": "patient.%08d@example.org", "patientID": "P%09d"}`, i, i)
		}
		sb.WriteString("\n]\n")
		return []byte(sb.String())
	}
	sb.WriteString("login,patientID\n")
	for i := range n {
		fmt.Fprintf(&sb, "patient.%08d@example.org,P%09d\n", i, i)
	}
	return []byte(sb.String())
}
