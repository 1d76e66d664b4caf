package okta

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	oktasdk "github.com/okta/okta-sdk-golang/v2/okta"
)

var (
	// ErrNotFound means the Okta object (or its parent) does not exist.
	ErrNotFound = errors.New("okta: not found")

	// ErrAmbiguous means a name matches more than one object, so the operator must not guess.
	// It is terminal: the spec should name the object by ID.
	ErrAmbiguous = errors.New("okta: name matches more than one object")

	// ErrInvalid means the request was refused before it reached Okta (e.g. a malformed ID or a
	// PolicyRule that was not read from Okta). It is terminal.
	ErrInvalid = errors.New("okta: invalid request")
)

// APIError is an error response from Okta. It keeps Okta's errorCode and errorSummary so the
// controller can report them.
type APIError struct {
	StatusCode   int    // HTTP status; inferred from ErrorCode when the SDK dropped the response.
	ErrorCode    string // e.g. E0000001, or an OAuth error such as invalid_client.
	ErrorSummary string
	ErrorID      string   // Okta's errorId, for Okta support.
	ErrorCauses  []string // errorCauses[].errorSummary, e.g. "name: ..." for validation errors.
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "okta API error %d", e.StatusCode)
	if e.ErrorCode != "" {
		b.WriteString(" " + e.ErrorCode)
	}
	if e.ErrorSummary != "" {
		b.WriteString(": " + e.ErrorSummary)
	}
	if len(e.ErrorCauses) > 0 {
		b.WriteString(" (" + strings.Join(e.ErrorCauses, "; ") + ")")
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNotFound) true for a 404.
func (e *APIError) Is(target error) bool {
	return target == ErrNotFound && e.StatusCode == http.StatusNotFound
}

func (e *APIError) transient() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusRequestTimeout ||
		e.StatusCode >= 500
}

func (e *APIError) terminal() bool {
	return e.StatusCode >= 400 && e.StatusCode < 500 && !e.transient() && e.StatusCode != http.StatusNotFound
}

// IsTransient reports whether err may go away by itself: rate limiting (including the SDK giving
// up after its 429 retries), 5xx, network errors, timeouts, an early EOF. The caller should retry
// with backoff.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.transient()
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrAmbiguous) || errors.Is(err, ErrInvalid) {
		return false
	}
	if isCertificateError(err) {
		// A TLS trust problem is configuration, but not Okta rejecting the spec: neither class.
		return false
	}
	if errors.Is(err, ErrConnectionDropped) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// IsTerminal reports whether Okta rejected the request for a reason retrying cannot fix: a 4xx
// other than 404, 408 and 429 (validation, authentication, permission), or ErrAmbiguous and
// ErrInvalid. The controller should report it and wait for the spec to change.
func IsTerminal(err error) bool {
	if err == nil {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.terminal()
	}
	return errors.Is(err, ErrAmbiguous) || errors.Is(err, ErrInvalid)
}

func isCertificateError(err error) bool {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verification     *tls.CertificateVerificationError
	)
	return errors.As(err, &unknownAuthority) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &verification)
}

// Messages of the plain errors the SDK's 429 handling returns (requestExecutor.go). They carry no
// type, so matching the text is the only way to recognise them.
const (
	sdkTooManyRequests = "too many requests"
	sdkBadDate         = "date header is missing or invalid"
	sdkBadReset        = "X-Rate-Limit-Reset header is missing or invalid"
)

// fromSDK turns what an SDK call returned into this package's errors and strips secrets.
func fromSDK(resp *oktasdk.Response, err error) error {
	if err == nil {
		return nil
	}
	status := 0
	if resp != nil && resp.Response != nil {
		status = resp.StatusCode
	}
	var oe *oktasdk.Error
	if errors.As(err, &oe) {
		ae := &APIError{
			StatusCode:   status,
			ErrorCode:    oe.ErrorCode,
			ErrorSummary: oe.ErrorSummary,
			ErrorID:      oe.ErrorId,
		}
		if ae.ErrorCode == "" {
			ae.ErrorCode = oe.ErrorMessage // OAuth error bodies: {"error", "error_description"}
		}
		if oe.ErrorDescription != "" {
			ae.ErrorSummary = oe.ErrorDescription
		}
		for _, c := range oe.ErrorCauses {
			if s, ok := c["errorSummary"].(string); ok && s != "" {
				ae.ErrorCauses = append(ae.ErrorCauses, s)
			}
		}
		if ae.StatusCode == 0 {
			// Errors from the PrivateKey token request come without the response.
			ae.StatusCode = statusForCode(ae.ErrorCode)
		}
		return ae
	}
	msg := err.Error()
	if msg == sdkTooManyRequests || strings.HasPrefix(msg, sdkBadDate) || strings.HasPrefix(msg, sdkBadReset) {
		return &APIError{StatusCode: http.StatusTooManyRequests, ErrorSummary: msg}
	}
	return redact(err)
}

// statusForCode infers the HTTP status of an Okta or OAuth error code; 0 when unknown.
func statusForCode(code string) int {
	switch code {
	case "E0000047":
		return http.StatusTooManyRequests
	case "E0000007":
		return http.StatusNotFound
	case "E0000011", "invalid_client", "invalid_token":
		return http.StatusUnauthorized
	case "E0000006", "access_denied", "insufficient_scope":
		return http.StatusForbidden
	case "E0000001", "E0000003", "invalid_request", "invalid_scope", "invalid_grant",
		"unauthorized_client", "unsupported_grant_type":
		return http.StatusBadRequest
	case "E0000009", "server_error":
		return http.StatusInternalServerError
	case "temporarily_unavailable":
		return http.StatusServiceUnavailable
	}
	return 0
}

// redact drops the query string from URLs in transport errors: the PrivateKey token request
// carries the signed client assertion there.
func redact(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u := ue.URL
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i] + "?[redacted]"
	}
	return &url.Error{Op: ue.Op, URL: u, Err: ue.Err}
}
