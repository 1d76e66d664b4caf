package protocol

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseTokens(t *testing.T) {
	cases := map[string]struct {
		in      string
		want    []Token
		wantErr string
	}{
		"id":                {in: "id", want: []Token{IDToken}},
		"access":            {in: "access", want: []Token{AccessToken}},
		"both":              {in: "id,access", want: []Token{IDToken, AccessToken}},
		"canonical order":   {in: "access, ID", want: []Token{IDToken, AccessToken}},
		"duplicate ignored": {in: "id,id", want: []Token{IDToken}},
		"unknown":           {in: "id,refresh", wantErr: `unknown token "refresh"`},
		"empty":             {in: "", wantErr: "empty entry"},
		"empty entry":       {in: "id,", wantErr: "empty entry"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseTokens(c.in)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("ParseTokens(%q) error = %v; want one containing %q", c.in, err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("ParseTokens(%q) (-want +got):\n%s", c.in, diff)
			}
		})
	}
}

func TestReservedClaim(t *testing.T) {
	cases := []struct {
		token Token
		name  string
		want  bool
	}{
		{IDToken, "patientID", false},
		{AccessToken, "patientID", false},
		{IDToken, "iss", true}, {AccessToken, "iss", true},
		{IDToken, "ver", true}, {AccessToken, "token_type", true},
		{IDToken, "sub", true}, {AccessToken, "sub", false}, // replaceable in access tokens only
		{IDToken, "aud", true}, {AccessToken, "aud", false},
		{AccessToken, "cid", true}, {IDToken, "cid", false},
		{AccessToken, "groups", true}, {IDToken, "groups", true},
		{IDToken, "nonce", true}, {AccessToken, "nonce", false},
		{IDToken, "okta_emailVerified", true},
		{IDToken, "SUB", false}, // claim names are case-sensitive
	}
	for _, c := range cases {
		if got := ReservedClaim(c.token, c.name); got != c.want {
			t.Errorf("ReservedClaim(%s, %q) = %v; want %v", c.token, c.name, got, c.want)
		}
	}
}

func TestValidateClaimName(t *testing.T) {
	cases := map[string]struct {
		name    string
		tokens  []Token
		wantErr string
	}{
		"custom claim":         {name: "patientID", tokens: []Token{IDToken, AccessToken}},
		"sub in access only":   {name: "sub", tokens: []Token{AccessToken}},
		"sub in ID token":      {name: "sub", tokens: []Token{IDToken}, wantErr: `claim "sub" is reserved by Okta in the ID token`},
		"sub in both":          {name: "sub", tokens: []Token{IDToken, AccessToken}, wantErr: `claim "sub" is reserved by Okta in the ID token`},
		"uid in access token":  {name: "uid", tokens: []Token{IDToken, AccessToken}, wantErr: `claim "uid" is reserved by Okta in the access token`},
		"empty":                {name: "", tokens: []Token{IDToken}, wantErr: "claim name is empty"},
		"slash":                {name: "a/b", tokens: []Token{IDToken}, wantErr: `claim "a/b" contains '/'`},
		"tilde (JSON pointer)": {name: "a~1", tokens: []Token{IDToken}, wantErr: `claim "a~1" contains`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := ValidateClaimName(c.name, c.tokens)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateClaimName(%q) = %v; want nil", c.name, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("ValidateClaimName(%q) = %v; want an error containing %q", c.name, err, c.wantErr)
			}
		})
	}
}

// TestResponseMatchesSpecExamples encodes SPEC 2.4's examples with our types.
func TestResponseMatchesSpecExamples(t *testing.T) {
	cases := map[string]struct {
		resp Response
		want string
	}{
		"add patient id (guide)": {
			resp: Response{Commands: []Command{AddClaim(IDToken, "extPatientId", "1235")}},
			want: `{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/claims/extPatientId","value":"1235"}]}]}`,
		},
		"lifetime, add and remove": {
			resp: Response{Commands: []Command{
				{Type: IdentityPatch, Value: []Operation{{Op: OpReplace, Path: "/token/lifetime/expiration", Value: 36000}}},
				{Type: AccessPatch, Value: []Operation{
					{Op: OpAdd, Path: "/claims/external_guid", Value: "F0384685-F87D-474B-848D-2058AC5655A7"},
					{Op: OpRemove, Path: "/claims/birthdate"},
				}},
			}},
			want: `{"commands":[
 {"type":"com.okta.identity.patch","value":[{"op":"replace","path":"/token/lifetime/expiration","value":36000}]},
 {"type":"com.okta.access.patch","value":[{"op":"add","path":"/claims/external_guid","value":"F0384685-F87D-474B-848D-2058AC5655A7"},
                                           {"op":"remove","path":"/claims/birthdate"}]}]}`,
		},
		"error": {
			resp: Response{Error: &Error{ErrorSummary: "Human-readable summary of the error"}},
			want: `{"error":{"errorSummary":"Human-readable summary of the error"}}`,
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := json.Marshal(c.resp)
			if err != nil {
				t.Fatal(err)
			}
			var gotV, wantV any
			if err := json.Unmarshal(got, &gotV); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(c.want), &wantV); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantV, gotV); diff != "" {
				t.Errorf("encoded response (-want +got):\n%s", diff)
			}
			var back Response
			if err := json.Unmarshal([]byte(c.want), &back); err != nil {
				t.Fatalf("decode the SPEC example: %v", err)
			}
		})
	}
}

func TestTokenForPatch(t *testing.T) {
	for _, tok := range AllTokens {
		got, ok := TokenForPatch(tok.PatchType())
		if !ok || got != tok {
			t.Errorf("TokenForPatch(%q) = %v, %v; want %v", tok.PatchType(), got, ok, tok)
		}
	}
	if _, ok := TokenForPatch("com.okta.refresh.patch"); ok {
		t.Error("TokenForPatch accepted an unknown command type")
	}
}
