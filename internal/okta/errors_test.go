package okta

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	oktasdk "github.com/okta/okta-sdk-golang/v2/okta"
)

func TestClassification(t *testing.T) {
	cases := map[string]struct {
		err                           error
		notFound, transient, terminal bool
	}{
		"nil":                    {err: nil},
		"not found sentinel":     {err: fmt.Errorf("get: %w", ErrNotFound), notFound: true},
		"404":                    {err: fmt.Errorf("get: %w", &APIError{StatusCode: 404, ErrorCode: "E0000007"}), notFound: true},
		"400 validation":         {err: &APIError{StatusCode: 400, ErrorCode: "E0000001"}, terminal: true},
		"401 token":              {err: &APIError{StatusCode: 401, ErrorCode: "E0000011"}, terminal: true},
		"403 permission":         {err: &APIError{StatusCode: 403, ErrorCode: "E0000006"}, terminal: true},
		"409":                    {err: &APIError{StatusCode: 409}, terminal: true},
		"408":                    {err: &APIError{StatusCode: 408}, transient: true},
		"429":                    {err: &APIError{StatusCode: 429, ErrorCode: "E0000047"}, transient: true},
		"500":                    {err: &APIError{StatusCode: 500}, transient: true},
		"503":                    {err: &APIError{StatusCode: 503}, transient: true},
		"deadline":               {err: fmt.Errorf("get: %w", context.DeadlineExceeded), transient: true},
		"canceled":               {err: context.Canceled, transient: true},
		"dropped":                {err: &url.Error{Op: "Get", URL: "https://x", Err: droppedError{cause: io.EOF}}, transient: true},
		"EOF":                    {err: &url.Error{Op: "Get", URL: "https://x", Err: io.EOF}, transient: true},
		"unexpected EOF":         {err: io.ErrUnexpectedEOF, transient: true},
		"connection refused":     {err: &url.Error{Op: "Get", URL: "https://x", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, transient: true},
		"connection reset":       {err: syscall.ECONNRESET, transient: true},
		"DNS":                    {err: &net.DNSError{Err: "no such host", Name: "x"}, transient: true},
		"untrusted certificate":  {err: &url.Error{Op: "Get", URL: "https://x", Err: x509.UnknownAuthorityError{}}},
		"ambiguous name":         {err: fmt.Errorf("find: %w", ErrAmbiguous), terminal: true},
		"invalid request":        {err: fmt.Errorf("update: %w", ErrInvalid), terminal: true},
		"unknown":                {err: errors.New("boom")},
		"exhausted 429, mapped":  {err: fromSDK(nil, errors.New("too many requests")), transient: true},
		"429 without Date":       {err: fromSDK(nil, errors.New("date header is missing or invalid: parsing time")), transient: true},
		"token endpoint 429":     {err: fromSDK(nil, &oktasdk.Error{ErrorCode: "E0000047"}), transient: true},
		"token endpoint refused": {err: fromSDK(nil, &oktasdk.Error{ErrorMessage: "invalid_client"}), terminal: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := errors.Is(tc.err, ErrNotFound); got != tc.notFound {
				t.Errorf("Is(ErrNotFound) = %v, want %v", got, tc.notFound)
			}
			if got := IsTransient(tc.err); got != tc.transient {
				t.Errorf("IsTransient = %v, want %v", got, tc.transient)
			}
			if got := IsTerminal(tc.err); got != tc.terminal {
				t.Errorf("IsTerminal = %v, want %v", got, tc.terminal)
			}
		})
	}
}

func TestFromSDK(t *testing.T) {
	resp := func(status int) *oktasdk.Response {
		return &oktasdk.Response{Response: &http.Response{StatusCode: status}}
	}
	cases := map[string]struct {
		resp *oktasdk.Response
		err  error
		want *APIError
	}{
		"okta error body": {
			resp: resp(400),
			err: &oktasdk.Error{ErrorCode: "E0000001", ErrorSummary: "Api validation failed: name", ErrorId: "oae1",
				ErrorCauses: []map[string]interface{}{{"errorSummary": "name: The field cannot be left blank"}}},
			want: &APIError{StatusCode: 400, ErrorCode: "E0000001", ErrorSummary: "Api validation failed: name", ErrorID: "oae1",
				ErrorCauses: []string{"name: The field cannot be left blank"}},
		},
		"oauth error without response": {
			err:  &oktasdk.Error{ErrorMessage: "invalid_scope", ErrorDescription: "One or more scopes are not configured."},
			want: &APIError{StatusCode: 400, ErrorCode: "invalid_scope", ErrorSummary: "One or more scopes are not configured."},
		},
		"bearer challenge": {
			resp: resp(403),
			err:  &oktasdk.Error{ErrorSummary: "The access token provided does not contain the required scopes."},
			want: &APIError{StatusCode: 403, ErrorSummary: "The access token provided does not contain the required scopes."},
		},
		"exhausted retries": {
			err:  errors.New("too many requests"),
			want: &APIError{StatusCode: 429, ErrorSummary: "too many requests"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var got *APIError
			if !errors.As(fromSDK(tc.resp, tc.err), &got) {
				t.Fatalf("fromSDK returned %T", fromSDK(tc.resp, tc.err))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromSDKRedactsQuery(t *testing.T) {
	err := fromSDK(nil, &url.Error{Op: "Post", URL: "https://org.example.com/oauth2/v1/token?client_assertion=eyJsecret&grant_type=client_credentials", Err: io.EOF})
	if strings.Contains(err.Error(), "eyJsecret") {
		t.Errorf("error %q keeps the client assertion", err)
	}
	if !strings.Contains(err.Error(), "/oauth2/v1/token") || !IsTransient(err) {
		t.Errorf("error %q lost its path or class", err)
	}
}

func TestAPIErrorMessage(t *testing.T) {
	err := &APIError{StatusCode: 400, ErrorCode: "E0000001", ErrorSummary: "Api validation failed: name", ErrorCauses: []string{"name: taken"}}
	want := "okta API error 400 E0000001: Api validation failed: name (name: taken)"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}
