package patients

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"strings"
	"unicode"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/tokenhook/tokenhook/hookserver/internal/jsoncompat"
)

// ParseError reports why a patient list is invalid and on which line (1-based;
// for JSON, the line where the offending object or value starts). Its text never
// includes a login or a patient ID.
type ParseError struct {
	Line   int
	Reason string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
}

// Accepted column (CSV) and key (JSON) names, matched case-insensitively.
// username and ExternalServicePatientID are the names of Okta's sample data.
var (
	loginNames     = []string{"login", "username"}
	patientIDNames = []string{"patientID", "ExternalServicePatientID"}
)

const utf8BOM = "\ufeff"

// Parse parses a patient list. The format is JSON when the first byte that is
// not whitespace is '[' (an array of objects with login or username, and
// patientID or ExternalServicePatientID), and CSV otherwise (a header naming the
// same columns, in any order; other columns are ignored). Values are trimmed of
// surrounding whitespace. Empty values, missing columns and duplicate logins
// (compared as Lookup matches them) are errors; every error is a *ParseError.
func Parse(data []byte) (*List, error) {
	data = bytes.TrimPrefix(data, []byte(utf8BOM))
	if first := bytes.TrimLeft(data, " \t\r\n"); len(first) > 0 && first[0] == '[' {
		return parseJSON(data)
	}
	return parseCSV(data)
}

// builder collects entries into one string arena, so a list of 100,000
// patients is a handful of allocations rather than hundreds of thousands, and
// the arena becomes the list's memory without a copy.
type builder struct {
	arena   strings.Builder
	scratch []byte
	entries []entry
	lines   []int32 // of each entry
}

func newBuilder(sizeHint int) *builder {
	b := &builder{entries: make([]entry, 0, sizeHint/32), lines: make([]int32, 0, sizeHint/32)}
	b.arena.Grow(sizeHint)
	return b
}

func add[S ~string | ~[]byte](b *builder, login, patientID S, line int) error {
	login, patientID = trimSpace(login), trimSpace(patientID)
	if len(login) == 0 {
		return &ParseError{Line: line, Reason: "empty login"}
	}
	if len(patientID) == 0 {
		return &ParseError{Line: line, Reason: "empty patientID"}
	}
	b.scratch = appendKey(b.scratch[:0], login)
	keyLen := len(b.scratch)
	b.scratch = append(b.scratch, patientID...)
	start := b.arena.Len()
	if start+len(b.scratch) > 1<<32-1 || line > 1<<31-1 {
		return &ParseError{Line: line, Reason: "patient list too large"}
	}
	_, _ = b.arena.Write(b.scratch)
	b.entries = append(b.entries, entry{keyStart: uint32(start), keyEnd: uint32(start + keyLen), idEnd: uint32(b.arena.Len())})
	b.lines = append(b.lines, int32(line))
	return nil
}

// list indexes the entries; a login seen twice is an error on its second line.
func (b *builder) list() (*List, error) {
	l := &List{arena: b.arena.String(), entries: b.entries, slots: make([]uint32, slotCount(len(b.entries))), seed: maphash.MakeSeed()}
	for i, e := range b.entries {
		slot, first, dup := l.probe([]byte(l.arena[e.keyStart:e.keyEnd]))
		if dup {
			return nil, &ParseError{Line: int(b.lines[i]), Reason: fmt.Sprintf("duplicate login (first on line %d)", b.lineOf(first))}
		}
		l.slots[slot] = uint32(i + 1)
	}
	// Drop the spare capacity the parse reserved.
	if cap(l.entries) > len(l.entries)+len(l.entries)/8 {
		l.entries = append([]entry(nil), l.entries...)
	}
	return l, nil
}

// lineOf finds the line of an entry, for a duplicate's error.
func (b *builder) lineOf(e entry) int {
	for i, other := range b.entries {
		if other == e {
			return int(b.lines[i])
		}
	}
	return 0
}

func parseCSV(data []byte) (*List, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.ReuseRecord = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, &ParseError{Line: 1, Reason: "empty file: want a CSV header line login,patientID or a JSON array"}
	}
	if err != nil {
		return nil, csvError(err)
	}
	loginCol, idCol, err := csvColumns(header)
	if err != nil {
		line, _ := r.FieldPos(0)
		return nil, &ParseError{Line: line, Reason: err.Error()}
	}
	b := newBuilder(len(data))
	for {
		record, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := r.FieldPos(0)
		if err := add(b, record[loginCol], record[idCol], line); err != nil {
			return nil, err
		}
	}
	return b.list()
}

// csvError turns encoding/csv's error into a ParseError; its messages hold no field content.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{Line: pe.Line, Reason: pe.Err.Error()}
	}
	return &ParseError{Line: 1, Reason: err.Error()}
}

func csvColumns(header []string) (loginCol, idCol int, err error) {
	loginCol, idCol = -1, -1
	for i, name := range header {
		name = strings.TrimSpace(name)
		switch {
		case nameIn(name, loginNames):
			if loginCol >= 0 {
				return 0, 0, errors.New("header has more than one login column (login, username)")
			}
			loginCol = i
		case nameIn(name, patientIDNames):
			if idCol >= 0 {
				return 0, 0, errors.New("header has more than one patient ID column (patientID, ExternalServicePatientID)")
			}
			idCol = i
		}
	}
	switch {
	case loginCol < 0:
		return 0, 0, errors.New("header has no login column: want a first line like login,patientID")
	case idCol < 0:
		return 0, 0, errors.New("header has no patientID column: want a first line like login,patientID")
	}
	return loginCol, idCol, nil
}

func nameIn[S ~string | ~[]byte](name S, names []string) bool {
	for _, n := range names {
		if strings.EqualFold(string(name), n) {
			return true
		}
	}
	return false
}

func parseJSON(data []byte) (*List, error) {
	p := jsonParser{data: data, lines: lineCounter{data: data, line: 1}}
	p.d.Reset(data)
	list, err := p.parse()
	if err == nil {
		return list, nil
	}
	var pe *ParseError
	if errors.As(err, &pe) {
		return nil, pe
	}
	// A syntax error: report the line where the decoder found it.
	var se *jsoncompat.SyntaxError
	if errors.As(p.d.SyntaxError(err), &se) {
		return nil, &ParseError{Line: p.lines.at(int(se.Offset)), Reason: "invalid JSON: " + se.Msg}
	}
	return nil, &ParseError{Line: p.lines.at(int(p.d.InputOffset())), Reason: "invalid JSON"}
}

// jsonParser reads a patient list with the jsontext decoder. Every element's
// line is found from the decoder's byte offset; logins and IDs with no escapes
// alias the input until the builder copies them into its arena.
type jsonParser struct {
	data  []byte
	d     jsoncompat.Decoder
	lines lineCounter
}

func (p *jsonParser) parse() (*List, error) {
	// Parse has seen the '['.
	if _, err := p.d.ReadToken(); err != nil {
		return nil, err
	}
	b := newBuilder(len(p.data))
	for {
		switch kind := p.d.PeekKind(); kind {
		case jsontext.KindEndArray:
			if _, err := p.d.ReadToken(); err != nil {
				return nil, err
			}
			if err := p.d.Finish(); err != nil {
				return nil, err
			}
			return b.list()
		case jsontext.KindBeginObject:
			if _, err := p.d.ReadToken(); err != nil {
				return nil, err
			}
			line := p.lines.at(int(p.d.InputOffset()) - len("{"))
			login, id, err := p.patient(line)
			if err != nil {
				return nil, err
			}
			if err := add(b, login, id, line); err != nil {
				return nil, err
			}
		default:
			v, err := p.d.ReadValue() // a syntax error, if the kind is invalid
			if err != nil {
				return nil, err
			}
			line := p.lines.at(int(p.d.InputOffset()) - len(v))
			return nil, &ParseError{Line: line, Reason: "array element is " + jsoncompat.KindName(kind) + ", want an object with login and patientID"}
		}
	}
}

// patient reads the rest of one object, after its '{'; unknown keys are ignored.
func (p *jsonParser) patient(line int) (login, id []byte, err error) {
	var haveLogin, haveID bool
	for {
		quoted, ok, err := p.d.ReadName()
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			break
		}
		switch key := jsoncompat.String(quoted); {
		case nameIn(key, loginNames):
			if haveLogin {
				return nil, nil, &ParseError{Line: line, Reason: "object has more than one login field (login, username)"}
			}
			haveLogin = true
			if login, err = p.value(line, "login", false); err != nil {
				return nil, nil, err
			}
		case nameIn(key, patientIDNames):
			if haveID {
				return nil, nil, &ParseError{Line: line, Reason: "object has more than one patient ID field (patientID, ExternalServicePatientID)"}
			}
			haveID = true
			if id, err = p.value(line, "patientID", true); err != nil {
				return nil, nil, err
			}
		default:
			if _, err := p.d.ReadValue(); err != nil {
				return nil, nil, err
			}
		}
	}
	switch {
	case !haveLogin:
		return nil, nil, &ParseError{Line: line, Reason: "object has no login field (login or username)"}
	case !haveID:
		return nil, nil, &ParseError{Line: line, Reason: "object has no patientID field (patientID or ExternalServicePatientID)"}
	}
	return login, id, nil
}

// value reads a string (or, for IDs, a number kept as written); null reads as empty.
func (p *jsonParser) value(line int, field string, numberOK bool) ([]byte, error) {
	v, err := p.d.ReadValue()
	if err != nil {
		return nil, err
	}
	switch kind := v.Kind(); {
	case kind == jsontext.KindNull:
		return nil, nil
	case kind == jsontext.KindString:
		return jsoncompat.String(v), nil
	case numberOK && kind == jsontext.KindNumber:
		return v, nil
	default:
		return nil, &ParseError{Line: line, Reason: fmt.Sprintf("%s is %s, want a string", field, jsoncompat.KindName(kind))}
	}
}

// lineCounter maps increasing byte offsets to line numbers in linear total time.
type lineCounter struct {
	data []byte
	off  int
	line int
}

func (c *lineCounter) at(off int) int {
	if off < c.off {
		c.off, c.line = 0, 1
	}
	off = min(off, len(c.data))
	c.line += bytes.Count(c.data[c.off:off], []byte("\n"))
	c.off = off
	return c.line
}

// trimSpace trims Unicode white space from both ends, like strings.TrimSpace.
func trimSpace[S ~string | ~[]byte](s S) S {
	for len(s) > 0 {
		r, size := decodeRune(s)
		if !unicode.IsSpace(r) {
			break
		}
		s = s[size:]
	}
	for len(s) > 0 {
		r, size := decodeLastRune(s)
		if !unicode.IsSpace(r) {
			break
		}
		s = s[:len(s)-size]
	}
	return s
}
