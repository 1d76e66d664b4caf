package kubectlplugin

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream"
)

// PodDialer opens a TCP connection to a port of a pod. It is the seam between
// the preview and the cluster: PortForwardDialer is the real one; tests dial
// a hook server on loopback instead.
type PodDialer interface {
	// DialPod connects to port (a container port) of the pod; closing the
	// connection releases whatever DialPod set up for it.
	DialPod(ctx context.Context, namespace, pod string, port int32) (net.Conn, error)
}

// PortForwardDialer reaches pods through the API server's pods/portforward
// subresource, as kubectl port-forward does: over WebSocket, falling back to
// SPDY on API servers that do not upgrade to it. The API server's service
// proxy cannot be used instead: it drops the Authorization header, which is
// the hook's auth header by default.
type PortForwardDialer struct {
	config *rest.Config
	client rest.Interface
}

var _ PodDialer = (*PortForwardDialer)(nil)

// NewPortForwardDialer returns a dialer that port-forwards with config.
func NewPortForwardDialer(config *rest.Config) (*PortForwardDialer, error) {
	core := rest.CopyConfig(config)
	core.APIPath = "/api"
	core.GroupVersion = &corev1.SchemeGroupVersion
	core.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	c, err := rest.RESTClientFor(core)
	if err != nil {
		return nil, fmt.Errorf("port-forward client: %w", err)
	}
	return &PortForwardDialer{config: config, client: c}, nil
}

// forwardReadyTimeout bounds the wait for the API server to open the tunnel.
const forwardReadyTimeout = 30 * time.Second

// DialPod starts a port-forward of port to a random port on 127.0.0.1, and
// connects to it. Closing the connection stops the port-forward.
func (d *PortForwardDialer) DialPod(ctx context.Context, namespace, pod string, port int32) (net.Conn, error) {
	u := d.client.Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(d.config)
	if err != nil {
		return nil, fmt.Errorf("port-forward to pod %s/%s: %w", namespace, pod, err)
	}
	tunneling, err := portforward.NewSPDYOverWebsocketDialerForStreaming(u, d.config)
	if err != nil {
		return nil, fmt.Errorf("port-forward to pod %s/%s: %w", namespace, pod, err)
	}
	spdyDialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	dialer := portforward.NewFallbackDialerForStreaming(tunneling, spdyDialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})

	// The forward outlives ctx's use for dialing: it lasts until Close.
	fwdCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	ready := make(chan struct{})
	fw, err := portforward.NewOnAddressesForStreamingWithContext(fwdCtx, dialer, []string{"127.0.0.1"},
		[]string{"0:" + strconv.Itoa(int(port))}, ready, io.Discard, io.Discard)
	if err != nil {
		stop()
		return nil, fmt.Errorf("port-forward to pod %s/%s: %w", namespace, pod, err)
	}
	var fwdErr error
	done := make(chan struct{})
	go func() {
		fwdErr = fw.ForwardPorts()
		close(done)
	}()
	timer := time.NewTimer(forwardReadyTimeout)
	defer timer.Stop()
	select {
	case <-ready:
	case <-done:
		stop()
		return nil, fmt.Errorf("port-forward to pod %s/%s port %d: %w", namespace, pod, port, fwdErr)
	case <-ctx.Done():
		stop()
		return nil, fmt.Errorf("port-forward to pod %s/%s port %d: %w", namespace, pod, port, ctx.Err())
	case <-timer.C:
		stop()
		return nil, fmt.Errorf("port-forward to pod %s/%s port %d: not ready after %s", namespace, pod, port, forwardReadyTimeout)
	}
	ports, err := fw.GetPorts()
	if err != nil {
		stop()
		return nil, fmt.Errorf("port-forward to pod %s/%s port %d: %w", namespace, pod, port, err)
	}
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local))))
	if err != nil {
		stop()
		return nil, fmt.Errorf("port-forward to pod %s/%s port %d: %w", namespace, pod, port, err)
	}
	return &forwardedConn{Conn: conn, stop: stop, done: done}, nil
}

// forwardedConn stops its port-forward when closed.
type forwardedConn struct {
	net.Conn
	once sync.Once
	stop context.CancelFunc
	done <-chan struct{} // closed when the port-forward has stopped
}

func (c *forwardedConn) Close() error {
	// Half-close and wait for the far end's close, so the forwarder sees a
	// clean end of both streams rather than a reset it would log.
	if tc, ok := c.Conn.(*net.TCPConn); ok && tc.CloseWrite() == nil {
		_ = tc.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, tc)
	}
	err := c.Conn.Close()
	c.once.Do(func() {
		c.stop()
		select { // the tunnel closes at once, unless the API server is gone
		case <-c.done:
		case <-time.After(2 * time.Second):
		}
	})
	return err
}
