package okta

import (
	"errors"
	"io"
	"net/http"
)

// ErrConnectionDropped means Okta (or a proxy) closed the connection without answering. It is
// transient.
var ErrConnectionDropped = errors.New("okta: connection closed without a response")

// eofGuard turns io.EOF from the transport into ErrConnectionDropped. The SDK retries io.EOF
// without limit and without delay until the context ends (requestExecutor.go), which against a
// failing load balancer is a request storm that eats the org's rate limit; any other error it
// returns at once, and the controller's backoff paces the retry. Go's transport already retries
// idempotent requests on a stale keep-alive connection before this sees an error.
type eofGuard struct {
	next http.RoundTripper
}

func (g eofGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := g.next.RoundTrip(req)
	if err != nil && errors.Is(err, io.EOF) {
		return nil, droppedError{cause: err}
	}
	return resp, err
}

// droppedError is ErrConnectionDropped but not io.EOF, so the SDK does not loop on it.
type droppedError struct {
	cause error
}

func (e droppedError) Error() string { return ErrConnectionDropped.Error() + ": " + e.cause.Error() }

func (e droppedError) Is(target error) bool { return target == ErrConnectionDropped }
