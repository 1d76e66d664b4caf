package kubectlplugin

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/hookserver"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
	"github.com/tokenhook/tokenhook/internal/selfsigned"
)

const (
	hookSecret  = "Bearer s3cret-the-pods-accept"
	patientsCSV = "login,patientID\nada@example.com,P-1001\ngrace@example.com,\"P\"\"<&>\"\n"
)

// hookServer is a real hook server (package hookserver, as cmd/hookserver
// runs it) serving TLS on loopback, with the certificate a TLS Secret holds.
type hookServer struct {
	addr string
	cert selfsigned.Cert
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startHookServer(t *testing.T, cfg hookConfig, deny bool) *hookServer {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, err := selfsigned.New(selfsigned.Options{Hosts: []string{"patients-hookserver.clinic.svc"}})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := protocol.ParseTokens(cfg.tokens)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv, err := hookserver.New(hookserver.Options{
		Path:            "/tokenHook",
		PatientsFile:    write("patients.csv", []byte(patientsCSV)),
		AuthHeader:      cfg.authHeader,
		AuthSecretFiles: []string{write("current", []byte(hookSecret+"\n"))},
		Claim:           cfg.claim,
		Tokens:          tokens,
		DenyNonPatients: deny,
		TLSCertFile:     write("tls.crt", cert.CertPEM),
		TLSKeyFile:      write("tls.key", cert.KeyPEM),
		Logger:          slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hook server: %v", err)
		}
	})
	// Ready once the patient list is loaded.
	probe := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := probe.Get("https://" + ln.Addr().String() + hookserver.ReadyzPath)
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("hook server not ready: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &hookServer{addr: ln.Addr().String(), cert: cert, logs: logs}
}

// loopbackDialer stands in for the port-forward: it connects to the test hook
// server, and records which pod and port it was asked for.
type loopbackDialer struct {
	addr  string
	mu    sync.Mutex
	dials []string
}

func (d *loopbackDialer) DialPod(ctx context.Context, namespace, pod string, port int32) (net.Conn, error) {
	d.mu.Lock()
	d.dials = append(d.dials, fmt.Sprintf("%s/%s:%d", namespace, pod, port))
	d.mu.Unlock()
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", d.addr)
}

func (d *loopbackDialer) dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.dials...)
}

var (
	idOnly    = hookConfig{tls: true, authHeader: "Authorization", tokens: "id", claim: "patientID"}
	bothDeny  = hookConfig{tls: true, authHeader: "X-Okta-Secret", tokens: "id,access", claim: "pid"}
	tlsVerify = "TLS: certificate verified for patients-hookserver.clinic.svc against tls.crt of Secret clinic/hook-tls\n"
)

// world is a fake cluster with the TokenHook, its Deployment, pods and
// Secrets, and a real hook server behind the dialer.
type world struct {
	th      *v1.TokenHook
	cfg     hookConfig
	server  *hookServer
	pods    []client.Object // default: one ready pod testPod
	secrets map[string]map[string]string
	noDep   bool
	depEdit func(*appsv1.Deployment)
}

func (w world) env(t *testing.T) (*Env, *loopbackDialer) {
	t.Helper()
	objs := []client.Object{w.th}
	if !w.noDep {
		var ready int32
		for _, p := range w.pods {
			if podReady(p.(*corev1.Pod)) {
				ready++
			}
		}
		dep := testDeployment(w.th, ready)
		if w.depEdit != nil {
			w.depEdit(dep)
		}
		objs = append(objs, dep)
	}
	objs = append(objs, w.pods...)
	for name, data := range w.secrets {
		objs = append(objs, testSecret(name, data))
	}
	d := &loopbackDialer{addr: w.server.addr}
	return &Env{Client: fakeClient(t, objs...), Dialer: d}, d
}

func TestPreview(t *testing.T) {
	plain := startHookServer(t, idOnly, false)
	deny := startHookServer(t, bothDeny, true)
	other, err := selfsigned.New(selfsigned.Options{Hosts: []string{"patients-hookserver.clinic.svc"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	newWorld := func(srv *hookServer, cfg hookConfig, edits ...func(*world)) world {
		w := world{
			th:     testTokenHook(),
			cfg:    cfg,
			server: srv,
			pods: []client.Object{
				testHookPod(testPod, true, now.Add(-time.Hour), cfg),
				testHookPod("patients-hookserver-7d9c5-older", true, now.Add(-2*time.Hour), cfg),
				testHookPod("patients-hookserver-8e0d6-unready", false, now, cfg),
			},
			secrets: map[string]map[string]string{
				"patients-hookserver-auth": {"current": hookSecret, "previous": hookSecret},
				"hook-tls":                 {"tls.crt": string(srv.cert.CertPEM), "tls.key": string(srv.cert.KeyPEM)},
			},
		}
		for _, e := range edits {
			e(&w)
		}
		return w
	}
	header := "TokenHook clinic/patients, hook server pod clinic/" + testPod + ", login "

	cases := map[string]struct {
		reason string
		world  world
		args   []string
		want   string // stdout
	}{
		"Patient": {
			reason: "A patient's ID token gets the patient ID; the access token, which the hook does not patch, gets nothing.",
			world:  newWorld(plain, idOnly),
			args:   []string{"--login", "ada@example.com"},
			want:   header + "ada@example.com\n" + tlsVerify + "ID token:      patientID: \"P-1001\"\naccess token:  no claim\n",
		},
		"PatientBothTokens": {
			reason: "With both tokens configured, both get the claim; the pod's --auth-header and --claim are used.",
			world:  newWorld(deny, bothDeny),
			args:   []string{"--login", "grace@example.com", "--token", "both"},
			want:   header + "grace@example.com\n" + tlsVerify + "ID token:      pid: \"P\\\"\\u003c\\u0026\\u003e\"\naccess token:  pid: \"P\\\"\\u003c\\u0026\\u003e\"\n",
		},
		"NotPatient": {
			reason: "Someone not in the patient list gets no claim.",
			world:  newWorld(plain, idOnly),
			args:   []string{"--login", "eve@example.com"},
			want:   header + "eve@example.com\n" + tlsVerify + "no claim: not a patient\n",
		},
		"NoTokenToPatch": {
			reason: "A patient whose call mints none of the tokens the hook patches gets no claim, and is told why.",
			world:  newWorld(plain, idOnly),
			args:   []string{"--login", "ada@example.com", "--token", "access"},
			want: header + "ada@example.com\n" + tlsVerify +
				"no claim: the hook server adds patientID to the ID token only, and this login mints the access token (see --token)\n",
		},
		"Denied": {
			reason: "In deny mode, a non-patient gets the error object, and no token.",
			world:  newWorld(deny, bothDeny),
			args:   []string{"--login", "eve@example.com"},
			want: header + "eve@example.com\n" + tlsVerify +
				"denied: Okta issues no token; the client gets error_description \"This user is not authorized for this application.\"\n",
		},
		"CAFromSecret": {
			reason: "A ca.crt in the TLS Secret is the root the certificate is verified against.",
			world: newWorld(plain, idOnly, func(w *world) {
				w.secrets["hook-tls"] = map[string]string{"ca.crt": string(plain.cert.CertPEM), "tls.crt": string(other.CertPEM)}
			}),
			args: []string{"--login", "ada@example.com", "--token", "id"},
			want: header + "ada@example.com\n" +
				"TLS: certificate verified for patients-hookserver.clinic.svc against ca.crt of Secret clinic/hook-tls\n" +
				"ID token:  patientID: \"P-1001\"\n",
		},
		"Rotation": {
			reason: "During a rotation the pods may hold only the previous secret: it is tried after the current one is refused.",
			world: newWorld(plain, idOnly, func(w *world) {
				w.secrets["patients-hookserver-auth"] = map[string]string{"current": "Bearer the-new-one", "previous": hookSecret}
			}),
			args: []string{"--login", "ada@example.com", "--token", "id"},
			want: header + "ada@example.com\n" + tlsVerify + "ID token:  patientID: \"P-1001\"\n",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			env, dialer := tc.world.env(t)
			args := append([]string{"preview", testName, "-n", testNS}, tc.args...)
			out, errOut, err := runCmd(t, env, args...)
			if err != nil {
				t.Fatalf("%s\npreview: %v", tc.reason, err)
			}
			if diff := cmp.Diff(tc.want, out); diff != "" {
				t.Errorf("%s\npreview output (-want +got):\n%s", tc.reason, diff)
			}
			if errOut != "" {
				t.Errorf("%s\npreview wrote to stderr: %q", tc.reason, errOut)
			}
			for _, d := range dialer.dialed() {
				if d != "clinic/"+testPod+":8443" {
					t.Errorf("%s\npreview dialed %s; want the newest ready pod's https port, clinic/%s:8443", tc.reason, d, testPod)
				}
			}
			login := tc.args[1]
			if logs := tc.world.server.logs.String(); strings.Contains(logs, login) || strings.Contains(logs, "P-1001") {
				t.Errorf("%s\nthe hook server logged the login or patient ID:\n%s", tc.reason, logs)
			}
		})
	}
}

func TestPreviewJSON(t *testing.T) {
	srv := startHookServer(t, idOnly, false)
	w := world{
		th: testTokenHook(), cfg: idOnly, server: srv,
		pods: []client.Object{testHookPod(testPod, true, time.Now(), idOnly)},
		secrets: map[string]map[string]string{
			"patients-hookserver-auth": {"current": hookSecret, "previous": hookSecret},
			"hook-tls":                 {"tls.crt": string(srv.cert.CertPEM)},
		},
	}
	env, _ := w.env(t)
	out, _, err := runCmd(t, env, "preview", testName, "-n", testNS, "--login", "ada@example.com", "-o", "json")
	if err != nil {
		t.Fatalf("preview -o json: %v", err)
	}
	var got PreviewResult
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("preview -o json printed something that does not decode: %v\n%s", err, out)
	}
	want := PreviewResult{
		TokenHook:   "clinic/patients",
		Pod:         "clinic/" + testPod,
		Login:       "ada@example.com",
		Tokens:      []protocol.Token{protocol.IDToken, protocol.AccessToken},
		Claim:       "patientID",
		ClaimTokens: []protocol.Token{protocol.IDToken},
		TLS:         "certificate verified for patients-hookserver.clinic.svc against tls.crt of Secret clinic/hook-tls",
		Outcome:     OutcomePatient,
		Claims:      map[protocol.Token]map[string]any{protocol.IDToken: {"patientID": "P-1001"}, protocol.AccessToken: {}},
		Commands:    []protocol.Command{protocol.AddClaim(protocol.IDToken, "patientID", "P-1001")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("preview -o json (-want +got):\n%s", diff)
	}
}

func TestPreviewErrors(t *testing.T) {
	srv := startHookServer(t, idOnly, false)
	other, err := selfsigned.New(selfsigned.Options{Hosts: []string{"patients-hookserver.clinic.svc"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	newWorld := func(edits ...func(*world)) world {
		w := world{
			th: testTokenHook(), cfg: idOnly, server: srv,
			pods: []client.Object{testHookPod(testPod, true, now, idOnly)},
			secrets: map[string]map[string]string{
				"patients-hookserver-auth": {"current": hookSecret, "previous": hookSecret},
				"hook-tls":                 {"tls.crt": string(srv.cert.CertPEM)},
			},
		}
		for _, e := range edits {
			e(&w)
		}
		return w
	}
	cases := map[string]struct {
		reason string
		world  world
		name   string // the TokenHook asked for; default testName
		args   []string
		want   string // in the error
	}{
		"WrongSecret": {
			reason: "A secret the pod does not accept is a clear error, which does not quote the secret.",
			world: newWorld(func(w *world) {
				w.secrets["patients-hookserver-auth"] = map[string]string{"current": "Bearer wrong", "previous": "Bearer also-wrong"}
			}),
			want: "hook server pod clinic/" + testPod + " refused the auth secret of Secret clinic/patients-hookserver-auth in header Authorization " +
				"(unauthorized: Missing or invalid Authorization header.); if the secret is being rotated, the pod may not have the new one yet: try again in a minute",
		},
		"NoTokenHook": {
			reason: "A TokenHook that does not exist is named.",
			world:  newWorld(),
			name:   "nope",
			want:   "TokenHook clinic/nope not found",
		},
		"NoDeployment": {
			reason: "A TokenHook with no hook server Deployment says so.",
			world:  newWorld(func(w *world) { w.noDep = true; w.pods = nil }),
			want:   "TokenHook clinic/patients has no hook server Deployment clinic/patients-hookserver (yet): see kubectl tokenhook status patients",
		},
		"NoReadyPod": {
			reason: "A TokenHook whose pods are all unready is named, with its Deployment.",
			world: newWorld(func(w *world) {
				w.pods = []client.Object{testHookPod("patients-hookserver-x", false, now, idOnly)}
			}),
			want: "TokenHook clinic/patients has no ready hook server pod (Deployment clinic/patients-hookserver: 0 of 2 pods ready)",
		},
		"NotOwned": {
			reason: "A Deployment of the right name that the TokenHook does not control is not called.",
			world: newWorld(func(w *world) {
				w.depEdit = func(d *appsv1.Deployment) { d.OwnerReferences[0].UID = "another-uid" }
			}),
			want: "deployment clinic/patients-hookserver is not the hook server of TokenHook clinic/patients: the TokenHook does not control it",
		},
		"NoAuthSecret": {
			reason: "A missing auth Secret is named.",
			world:  newWorld(func(w *world) { delete(w.secrets, "patients-hookserver-auth") }),
			want:   "TokenHook clinic/patients: auth Secret clinic/patients-hookserver-auth not found",
		},
		"NoTLSSecret": {
			reason: "Without the TLS Secret the certificate cannot be verified; the way around is offered.",
			world:  newWorld(func(w *world) { delete(w.secrets, "hook-tls") }),
			want:   "get TLS Secret clinic/hook-tls to verify the hook server's certificate",
		},
		"OtherCA": {
			reason: "A certificate not signed by the TLS Secret's CA is refused.",
			world:  newWorld(func(w *world) { w.secrets["hook-tls"] = map[string]string{"tls.crt": string(other.CertPEM)} }),
			want:   "its certificate is not signed by the CA of Secret clinic/hook-tls",
		},
		"WrongName": {
			reason: "A certificate that does not hold the name checked is refused, and the flag to change it named.",
			world:  newWorld(),
			args:   []string{"--hook-server-name", "hooks.example.com"},
			want:   "(set --hook-server-name to one it holds)",
		},
		"NoLogin": {
			reason: "--login is required.",
			world:  newWorld(),
			args:   []string{"--login="},
			want:   "--login is required: the Okta login to preview",
		},
		"BadToken": {
			reason: "--token takes id, access or both.",
			world:  newWorld(),
			args:   []string{"--token", "refresh"},
			want:   `--token: unknown token "refresh"; want id or access (or both)`,
		},
		"BadOutput": {
			reason: "--output takes text or json.",
			world:  newWorld(),
			args:   []string{"-o", "yaml"},
			want:   `--output "yaml": want text or json`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			env, _ := tc.world.env(t)
			args := append([]string{"preview", firstOf(tc.name, testName), "-n", testNS, "--login", "ada@example.com"}, tc.args...)
			out, errOut, err := runCmd(t, env, args...)
			if err == nil {
				t.Fatalf("%s\npreview succeeded:\n%s", tc.reason, out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s\npreview error:\n  %v\nwant one containing\n  %s", tc.reason, err, tc.want)
			}
			for _, secret := range []string{hookSecret, "Bearer wrong", "Bearer also-wrong"} {
				if strings.Contains(err.Error()+out+errOut, secret) {
					t.Errorf("%s\npreview printed an auth secret: %v\n%s%s", tc.reason, err, out, errOut)
				}
			}
		})
	}
}
