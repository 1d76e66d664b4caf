package kubectlplugin

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"
	kubeletportforward "k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/streaming/pkg/httpstream/wsstream"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenhook/tokenhook/hookserver/protocol"
)

// podForwarder is the kubelet's end of a port-forward: it connects each
// forwarded stream to the test hook server, whatever the pod and port.
type podForwarder struct {
	addr string
	mu   sync.Mutex
	seen []string
}

func (f *podForwarder) PortForward(ctx context.Context, pod, _ string, port int32, stream io.ReadWriteCloser) error {
	f.mu.Lock()
	f.seen = append(f.seen, fmt.Sprintf("%s:%d", pod, port))
	f.mu.Unlock()
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, "tcp", f.addr)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(conn, stream); done <- struct{}{} }()
	go func() { _, _ = io.Copy(stream, conn); done <- struct{}{} }()
	<-done
	return nil
}

// TestPortForwardDialer runs a preview through PortForwardDialer against an
// API server that serves pods/portforward with the kubelet's own SPDY
// port-forward server, and refuses WebSockets as API servers before 1.30 do,
// so the dialer's fallback to SPDY is taken. What it cannot show is the real
// API server and kubelet in between: the real-node test does.
func TestPortForwardDialer(t *testing.T) {
	srv := startHookServer(t, idOnly, false)
	fwd := &podForwarder{addr: srv.addr}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pod, ok := strings.CutPrefix(r.URL.Path, "/api/v1/namespaces/clinic/pods/")
		pod, ok2 := strings.CutSuffix(pod, "/portforward")
		switch {
		case !ok || !ok2 || r.Method != http.MethodPost:
			http.Error(w, "not found", http.StatusNotFound)
		case wsstream.IsWebSocketRequest(r):
			http.Error(w, "no WebSockets here", http.StatusBadRequest)
		default:
			kubeletportforward.ServePortForward(w, r, fwd, pod, "pod-uid", nil, time.Minute, 10*time.Second, kubeletportforward.SupportedProtocols)
		}
	}))
	t.Cleanup(api.Close)

	dialer, err := NewPortForwardDialer(&rest.Config{Host: api.URL})
	if err != nil {
		t.Fatal(err)
	}
	w := world{
		th: testTokenHook(), cfg: idOnly, server: srv,
		pods: []client.Object{testHookPod(testPod, true, time.Now(), idOnly)},
		secrets: map[string]map[string]string{
			"patients-hookserver-auth": {"current": hookSecret, "previous": hookSecret},
			"hook-tls":                 {"tls.crt": string(srv.cert.CertPEM)},
		},
	}
	env, _ := w.env(t)
	env.Dialer = dialer
	res, err := Preview(context.Background(), env, PreviewRequest{Namespace: testNS, Name: testName, Login: "ada@example.com", Tokens: []protocol.Token{protocol.IDToken}})
	if err != nil {
		t.Fatalf("preview through the port-forward: %v", err)
	}
	if got := res.Claims[protocol.IDToken]["patientID"]; got != "P-1001" {
		t.Errorf("preview through the port-forward: ID token claims %v; want patientID P-1001", res.Claims[protocol.IDToken])
	}
	fwd.mu.Lock()
	defer fwd.mu.Unlock()
	if diff := cmp.Diff([]string{testPod + ":8443"}, fwd.seen); diff != "" {
		t.Errorf("port-forwarded streams (-want +got):\n%s", diff)
	}
}
