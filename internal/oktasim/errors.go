package oktasim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Okta error codes the simulator answers with.
const (
	CodeValidation       = "E0000001" // 400 Api validation failed
	CodeMalformedBody    = "E0000003" // 400 The request body was not well-formed
	CodeForbidden        = "E0000006" // 403 You do not have permission
	CodeNotFound         = "E0000007" // 404 Not found
	CodeInternal         = "E0000009" // 500 Internal Server Error
	CodeInvalidToken     = "E0000011" // 401 Invalid token provided
	CodeMethodNotAllowed = "E0000022" // 405 The endpoint does not support the provided HTTP method
	CodeRateLimited      = "E0000047" // 429 API call exceeded rate limit
)

// Error is an Okta error response: HTTP status, errorCode, errorSummary and errorCauses. The Go
// API returns it for the same reasons the HTTP API would.
type Error struct {
	Status  int
	Code    string
	Summary string
	Causes  []string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Summary)
	if len(e.Causes) > 0 {
		s += " (" + strings.Join(e.Causes, "; ") + ")"
	}
	return s
}

func errNotFound(id, kind string) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound,
		Summary: fmt.Sprintf("Not found: Resource not found: %s (%s)", id, kind)}
}

func errMalformed() *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeMalformedBody, Summary: "The request body was not well-formed."}
}

func errInvalidToken() *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Summary: "Invalid token provided"}
}

func errForbidden() *Error {
	return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Summary: "You do not have permission to perform the requested action"}
}

func errRateLimited() *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited, Summary: "API call exceeded rate limit due to too many requests."}
}

func errInternal() *Error {
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Summary: "Internal Server Error"}
}

func errMethodNotAllowed() *Error {
	return &Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed, Summary: "The endpoint does not support the provided HTTP method"}
}

// validation collects field errors the way Okta reports them: summary "Api validation failed:
// <fields>", one cause "<field>: <message>" per problem.
type validation struct {
	fields []string
	causes []string
}

func (v *validation) add(field, format string, args ...any) {
	if !slices.Contains(v.fields, field) {
		v.fields = append(v.fields, field)
	}
	v.causes = append(v.causes, field+": "+fmt.Sprintf(format, args...))
}

func (v *validation) err() *Error {
	if len(v.causes) == 0 {
		return nil
	}
	return &Error{Status: http.StatusBadRequest, Code: CodeValidation,
		Summary: "Api validation failed: " + strings.Join(v.fields, ", "), Causes: v.causes}
}
