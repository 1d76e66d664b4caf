package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for f, content := range map[string]string{
		a: "Basic b2xk\n\n  Bearer two  \r\n",
		b: "Basic " + strings.Repeat("x", 300), // longer than the stack buffer
	} {
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Load([]string{a, b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Count() != 3 {
		t.Errorf("Count() = %d; want 3", s.Count())
	}
	cases := map[string]bool{
		"Basic b2xk":                        true,
		"Bearer two":                        true,
		"Basic " + strings.Repeat("x", 300): true,
		"":                                  false,
		"Basic b2x":                         false,
		"basic b2xk":                        false,
		"Basic b2xk\n":                      false,
		"Basic " + strings.Repeat("x", 299): false,
	}
	for secret, want := range cases {
		if got := s.Valid(secret); got != want {
			t.Errorf("Valid(%q) = %v; want %v", secret, got, want)
		}
	}
}

func TestLoadRefusesEmptyFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(f, []byte(" \n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load([]string{f}, nil); err == nil || !strings.Contains(err.Error(), "holds no secret") {
		t.Errorf("Load error = %v; want holds no secret", err)
	}
}
