// Package patients parses the patient list (login → patient ID) and keeps the
// current list of a running hook server, reloading it when its file changes.
//
// The Kubernetes controller validates the ConfigMap with Parse, so the hook
// server and the controller agree on what a valid list is. Patient data never
// appears in an error: a ParseError names a line, not its content.
package patients

import "hash/maphash"

// List maps logins to patient IDs. A login of ASCII characters only matches
// case-insensitively, any other login only byte for byte (see appendKey).
// It is immutable and safe for concurrent use.
//
// It is a hash table of offsets into one string holding every login key and
// patient ID: no pointer per patient, so a list of 100,000 patients costs the
// garbage collector nothing to scan and about 65 bytes a patient.
type List struct {
	arena   string
	entries []entry
	// slots is an open-addressing table (linear probing, at most half full) of
	// entry index + 1; 0 marks an empty slot.
	slots []uint32
	seed  maphash.Seed
}

// entry locates one patient in the arena: the login key is
// arena[keyStart:keyEnd], the patient ID arena[keyEnd:idEnd].
type entry struct {
	keyStart, keyEnd, idEnd uint32
}

// Len is the number of patients.
func (l *List) Len() int {
	if l == nil {
		return 0
	}
	return len(l.entries)
}

// Lookup returns the patient ID of login: ASCII case-insensitively, otherwise exactly.
// It does not allocate for logins up to 256 bytes.
func (l *List) Lookup(login string) (patientID string, ok bool) {
	return lookup(l, login)
}

// LookupBytes is Lookup for a login held in a byte slice.
func (l *List) LookupBytes(login []byte) (patientID string, ok bool) {
	return lookup(l, login)
}

func lookup[S ~string | ~[]byte](l *List, login S) (string, bool) {
	if l == nil || len(login) == 0 {
		return "", false
	}
	var buf [maxStackKey]byte
	key := appendKey(buf[:0], login)
	if e, ok := l.find(key); ok {
		return l.arena[e.keyEnd:e.idEnd], true
	}
	return "", false
}

// find returns the entry of a login key, or the slot where it would go.
func (l *List) find(key []byte) (entry, bool) {
	_, e, ok := l.probe(key)
	return e, ok
}

func (l *List) probe(key []byte) (slot int, e entry, found bool) {
	mask := len(l.slots) - 1
	for i := int(maphash.Bytes(l.seed, key)) & mask; ; i = (i + 1) & mask {
		s := l.slots[i]
		if s == 0 {
			return i, entry{}, false
		}
		e := l.entries[s-1]
		if l.arena[e.keyStart:e.keyEnd] == string(key) {
			return i, e, true
		}
	}
}

// slotCount is the table size for n entries: a power of two, at least 2n.
func slotCount(n int) int {
	size := 8
	for size < 2*n {
		size *= 2
	}
	return size
}
