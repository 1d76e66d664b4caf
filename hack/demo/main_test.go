package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tokenhook/tokenhook/test/localstack"
)

func TestOAuthCallerFromEnv(t *testing.T) {
	cases := map[string]struct {
		reason  string
		env     map[string]string
		want    localstack.OAuthCaller
		wantErr string
	}{
		"All": {
			reason: "The app's ID and secret, and the scope and audience, come from the environment.",
			env: map[string]string{"TOKENHOOK_OAUTH_CLIENT_ID": "0oaapp", "TOKENHOOK_OAUTH_CLIENT_SECRET": " s3cret\n",
				"TOKENHOOK_OAUTH_SCOPE": "hooks.call", "TOKENHOOK_OAUTH_AUDIENCE": "api://hooks"},
			want: localstack.OAuthCaller{ClientID: "0oaapp", ClientSecret: "s3cret", Scope: "hooks.call", Audience: "api://hooks"},
		},
		"Defaults": {
			reason: "Without scope and audience, the sample's stay (empty here: ApplyOAuthSamples keeps them).",
			env:    map[string]string{"TOKENHOOK_OAUTH_CLIENT_ID": "0oaapp", "TOKENHOOK_OAUTH_CLIENT_SECRET": "s3cret"},
			want:   localstack.OAuthCaller{ClientID: "0oaapp", ClientSecret: "s3cret"},
		},
		"NoSecret": {
			reason:  "A missing client secret is named.",
			env:     map[string]string{"TOKENHOOK_OAUTH_CLIENT_ID": "0oaapp"},
			wantErr: "with a real Okta org, -oauth needs TOKENHOOK_OAUTH_CLIENT_SECRET: ",
		},
		"Neither": {
			reason:  "Both missing are named; blanks count as missing.",
			env:     map[string]string{"TOKENHOOK_OAUTH_CLIENT_ID": "  "},
			wantErr: "-oauth needs TOKENHOOK_OAUTH_CLIENT_ID and TOKENHOOK_OAUTH_CLIENT_SECRET: ",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := oauthCallerFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("%s\nerror %v, want one containing %q", tc.reason, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s\n%v", tc.reason, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s\n(-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func TestCheckAuthCalls(t *testing.T) {
	before := map[string]float64{"oauth": 1, "header": 0}
	cases := map[string]struct {
		reason  string
		oauth   bool
		after   map[string]float64
		wantErr string
		text    string
	}{
		"OAuth": {
			reason: "Three logins let in by their access tokens (one earlier call not counted).",
			oauth:  true, after: map[string]float64{"oauth": 4, "header": 0}, text: "oauth +3, header +0",
		},
		"OAuthTooFew": {
			reason: "Fewer calls than logins by OAuth is an error.",
			oauth:  true, after: map[string]float64{"oauth": 3, "header": 0}, text: "oauth +2, header +0",
			wantErr: "unexpected: the hook server let in 2 calls by oauth for 3 hook calls",
		},
		"OAuthButHeader": {
			reason: "A call let in by the header secret when OAuth was set up is an error.",
			oauth:  true, after: map[string]float64{"oauth": 4, "header": 1}, text: "oauth +3, header +1",
			wantErr: "unexpected: the hook server let in 1 calls by header; the demo set up oauth",
		},
		"Header": {
			reason: "The header demo's calls are let in by the secret.",
			after:  map[string]float64{"oauth": 1, "header": 3}, text: "oauth +0, header +3",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := authCallsText(tc.after, before); got != tc.text {
				t.Errorf("%s\nauthCallsText = %q, want %q", tc.reason, got, tc.text)
			}
			err := checkAuthCalls(tc.oauth, tc.after, before, 3)
			if tc.wantErr == "" && err != nil {
				t.Errorf("%s\n%v", tc.reason, err)
			}
			if tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr) {
				t.Errorf("%s\nerror %v, want %q", tc.reason, err, tc.wantErr)
			}
		})
	}
}
